//! Keyset paging over projection tables: a page costs the same wherever it starts.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// From the first row.
    Start,
    /// Rows whose key is greater than this one (the next page).
    After(String),
    /// Rows whose key is less than this one (the previous page).
    Before(String),
    /// Skip this many rows: for clients that ask for a page number without a token. Costs
    /// grow with the offset; tokens do not.
    Offset(i64),
}

#[derive(Debug, Clone)]
pub struct PageQuery {
    pub size: i64,
    pub cursor: Cursor,
}

/// One page of rows in key order, and whether more rows lie beyond it in the direction of
/// travel (after it for `Start`/`After`/`Offset`, before it for `Before`).
#[derive(Debug, Clone)]
pub struct Rows<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// The same paging over a list held in memory (a static catalog), sorted by `key_of`.
pub fn page_in_memory<T>(mut all: Vec<T>, key_of: impl Fn(&T) -> &str, page: &PageQuery) -> Rows<T> {
    all.sort_by(|a, b| key_of(a).cmp(key_of(b)));
    let size = page.size.max(0) as usize;
    let (mut items, more): (Vec<T>, bool) = match &page.cursor {
        Cursor::Start => {
            let more = all.len() > size;
            (all.into_iter().take(size).collect(), more)
        }
        Cursor::Offset(n) => {
            let rest: Vec<T> = all.into_iter().skip((*n).max(0) as usize).collect();
            let more = rest.len() > size;
            (rest.into_iter().take(size).collect(), more)
        }
        Cursor::After(k) => {
            let rest: Vec<T> = all.into_iter().filter(|t| key_of(t) > k.as_str()).collect();
            let more = rest.len() > size;
            (rest.into_iter().take(size).collect(), more)
        }
        Cursor::Before(k) => {
            let mut rest: Vec<T> = all.into_iter().filter(|t| key_of(t) < k.as_str()).collect();
            let more = rest.len() > size;
            rest.reverse();
            (rest.into_iter().take(size).collect(), more)
        }
    };
    if matches!(page.cursor, Cursor::Before(_)) {
        items.reverse();
    }
    Rows { items, more }
}

/// Completes `query` (a `SELECT … WHERE …` with its filters) with the cursor's condition on
/// `key`, the order and the limit, and runs it.
pub(crate) async fn page<T>(
    pool: &PgPool,
    mut query: QueryBuilder<'_, Postgres>,
    key: &str,
    page: &PageQuery,
) -> sqlx::Result<Rows<T>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let backwards = matches!(page.cursor, Cursor::Before(_));
    match &page.cursor {
        Cursor::After(k) => {
            query.push(format_args!(" AND {key} > ")).push_bind(k.clone());
        }
        Cursor::Before(k) => {
            query.push(format_args!(" AND {key} < ")).push_bind(k.clone());
        }
        Cursor::Start | Cursor::Offset(_) => {}
    }
    query.push(format_args!(" ORDER BY {key} {}", if backwards { "DESC" } else { "ASC" }));
    query.push(" LIMIT ").push_bind(page.size + 1);
    if let Cursor::Offset(n) = page.cursor {
        query.push(" OFFSET ").push_bind(n);
    }
    let mut items: Vec<T> = query.build_query_as().fetch_all(pool).await?;
    let more = items.len() as i64 > page.size;
    items.truncate(page.size as usize);
    if backwards {
        items.reverse();
    }
    Ok(Rows { items, more })
}
