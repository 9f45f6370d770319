//! Twilio's paging: `PageSize`, `Page`, `PageToken` in; a `meta` object with absolute page URLs
//! out. Tokens are keyset cursors (`PA<key>` = after, `PB<key>` = before), so the 10,000th page
//! costs what the first does.

use serde::{Deserialize, Serialize};
use simledger_projections::read::{Cursor, PageQuery, Rows};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The paging parameters every list endpoint takes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PagingParams {
    /// How many resources to return in each list page. The default is 50, and the maximum is 1000.
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<i64>,
    /// The page index. This value is simply for client state.
    #[param(minimum = 0)]
    pub page: Option<i64>,
    /// The page token. This is provided by the API.
    pub page_token: Option<String>,
}

/// The filters of a list that has none but paging: any other parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

#[derive(Debug, Clone)]
pub struct Paging {
    pub size: i64,
    pub page: i64,
    pub token: Option<String>,
}

impl Paging {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut size = DEFAULT_PAGE_SIZE;
        let mut page = 0;
        let mut token = None;
        for (key, value) in pairs {
            let int = || {
                value.parse::<i64>().map_err(|_| ApiError::invalid(format!("{key} must be an integer, got {value:?}")))
            };
            match key.as_str() {
                "PageSize" => size = int()?,
                "Page" => page = int()?,
                _ if value.is_empty() => {}
                _ => token = Some(value.clone()),
            }
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::invalid(format!("PageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")));
        }
        if page < 0 {
            return Err(ApiError::invalid(format!("Page must be 0 or more, got {page}")));
        }
        if token.is_none() && page.checked_mul(size).is_none() {
            return Err(ApiError::invalid(format!("Page {page} is beyond any list")));
        }
        if let Some(t) = &token {
            if Self::cursor_of(t).is_none() {
                return Err(ApiError::invalid(format!("PageToken {t:?} was not issued by this API")));
            }
        }
        Ok(Self { size, page, token })
    }

    fn cursor_of(token: &str) -> Option<Cursor> {
        let key = token.get(2..)?;
        if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-_".contains(&b)) {
            return None;
        }
        match &token[..2] {
            "PA" => Some(Cursor::After(key.to_owned())),
            "PB" => Some(Cursor::Before(key.to_owned())),
            _ => None,
        }
    }

    /// The query this request asks for. A page number without a token (a client jumping to a
    /// page) falls back to an offset.
    pub fn query(&self) -> PageQuery {
        let cursor = match &self.token {
            Some(t) => Self::cursor_of(t).expect("checked when parsed"),
            None if self.page > 0 => Cursor::Offset(self.page * self.size),
            None => Cursor::Start,
        };
        PageQuery { size: self.size, cursor }
    }
}

/// Twilio's `meta` object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Meta {
    pub page: i64,
    pub page_size: i64,
    pub first_page_url: String,
    pub previous_page_url: Option<String>,
    pub next_page_url: Option<String>,
    pub url: String,
    /// The name of the member holding this page's resources.
    pub key: String,
}

/// Builds `meta` for a page of `rows` whose keys are given by `key_of`.
pub fn meta<T>(
    origin: &str,
    path: &str,
    echoed: &[(String, String)],
    paging: &Paging,
    rows: &Rows<T>,
    key_of: impl Fn(&T) -> &str,
    key: &str,
) -> Meta {
    let url = |page: i64, token: Option<String>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(echoed);
        q.append_pair("PageSize", &paging.size.to_string());
        q.append_pair("Page", &page.to_string());
        if let Some(t) = token {
            q.append_pair("PageToken", &t);
        }
        format!("{origin}{path}?{}", q.finish())
    };
    let backwards = matches!(paging.query().cursor, Cursor::Before(_));
    let first = rows.items.first().map(&key_of);
    let last = rows.items.last().map(&key_of);
    let has_next = if backwards { last.is_some() } else { rows.more };
    let has_previous = paging.page > 0 && first.is_some() && (!backwards || rows.more);
    Meta {
        page: paging.page,
        page_size: paging.size,
        first_page_url: url(0, None),
        previous_page_url: has_previous.then(|| url(paging.page - 1, first.map(|k| format!("PB{k}")))),
        next_page_url: has_next.then(|| url(paging.page + 1, last.map(|k| format!("PA{k}")))),
        url: url(paging.page, paging.token.clone()),
        key: key.to_owned(),
    }
}

/// A page of an in-memory list sorted by key (the Networks catalogue).
pub fn page_slice<T: Clone>(items: &[T], key_of: impl Fn(&T) -> &str, query: &PageQuery) -> Rows<T> {
    let size = query.size as usize;
    let (start, end) = match &query.cursor {
        Cursor::Start => (0, items.len()),
        Cursor::Offset(n) => ((*n as usize).min(items.len()), items.len()),
        Cursor::After(k) => (items.partition_point(|i| key_of(i) <= k.as_str()), items.len()),
        Cursor::Before(k) => (0, items.partition_point(|i| key_of(i) < k.as_str())),
    };
    let window = &items[start..end];
    if matches!(query.cursor, Cursor::Before(_)) {
        let from = window.len().saturating_sub(size);
        Rows { items: window[from..].to_vec(), more: from > 0 }
    } else {
        Rows { items: window.iter().take(size).cloned().collect(), more: window.len() > size }
    }
}

/// Declares the list envelope of a resource for the OpenAPI document: `{<key>: [...], meta}`.
macro_rules! list_envelope {
    ($name:ident, $key:ident, $item:ty) => {
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub $key: Vec<$item>,
            pub meta: $crate::v1::paging::Meta,
        }
    };
}
pub(crate) use list_envelope;

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(pairs: &[(&str, &str)]) -> Result<Paging, ApiError> {
        Paging::parse(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn page_size_is_bounded() {
        assert_eq!(paging(&[]).unwrap().size, 50);
        assert!(paging(&[("PageSize", "0")]).is_err());
        assert!(paging(&[("PageSize", "1001")]).is_err());
        assert!(paging(&[("PageSize", "ten")]).is_err());
        assert!(paging(&[("PageToken", "XX123")]).is_err());
        assert!(paging(&[("Page", "184467440737095517")]).is_err());
    }

    #[test]
    fn slices_page_both_ways() {
        let items: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let q = |cursor| PageQuery { size: 3, cursor };
        fn key(s: &String) -> &str {
            s
        }
        let first = page_slice(&items, key, &q(Cursor::Start));
        assert_eq!(first.items, ["k0", "k1", "k2"]);
        assert!(first.more);
        let next = page_slice(&items, key, &q(Cursor::After("k2".into())));
        assert_eq!(next.items, ["k3", "k4", "k5"]);
        let back = page_slice(&items, key, &q(Cursor::Before("k3".into())));
        assert_eq!(back.items, ["k0", "k1", "k2"]);
        assert!(!back.more);
        let last = page_slice(&items, key, &q(Cursor::After("k8".into())));
        assert_eq!(last.items, ["k9"]);
        assert!(!last.more);
    }
}
