//! Webhook sinks: CloudEvents as a JSON array per request, signed exactly as Twilio signs, so a
//! customer's existing `RequestValidator` check passes unchanged:
//!
//! - `?bodySHA256=<hex SHA-256 of the body>` is appended to the destination URL;
//! - `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, that full URL)).
//!
//! Userinfo in the destination becomes HTTP Basic auth (and is left out of the signed URL).
//! `batch_events: true` packs events into arrays of at most 64 kB; `false` sends one per request.

use std::time::Duration;

use sha2::{Digest, Sha256};
use simledger_eventlog::catalog::{WebhookMethod, WebhookSink};
use simledger_outbound::{OutboundClient, Url};

use super::DeliveryError;

/// Twilio's cap on a batched request body.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;
/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Splits events, given by their serialized sizes, into requests: JSON-array bodies of at most
/// [`MAX_BATCH_BYTES`] when batching (an event larger than that alone), one event each
/// otherwise. Each range's body is [`array`] of its events.
pub fn batches(sizes: &[usize], batch: bool) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 1);
    for (i, size) in sizes.iter().enumerate() {
        // `[` or `,` before each event, `]` after the last.
        if i > start && (!batch || bytes + 1 + size + 1 > MAX_BATCH_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 1);
        }
        bytes += 1 + size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// A JSON array of already serialized events: a request's body.
pub fn array<'a>(events: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = vec![b'['];
    for (i, e) in events.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.push(b']');
    body
}

/// The URL a body is sent to and signed with: the destination without userinfo, with
/// `bodySHA256` appended; and the Basic credentials the userinfo held.
pub fn signed_url(destination: &Url, body: &[u8]) -> (Url, Option<(String, String)>) {
    let mut url = destination.clone();
    let credentials = (!url.username().is_empty())
        .then(|| (percent_decode(url.username()), percent_decode(url.password().unwrap_or(""))));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let hash = hex::encode(Sha256::digest(body));
    url.query_pairs_mut().append_pair("bodySHA256", &hash);
    (url, credentials)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Twilio's `X-Twilio-Signature` of a request to `url` with no form parameters.
pub fn twilio_signature(auth_token: &str, url: &str) -> String {
    crate::outbound_calls::twilio_form_signature(auth_token, url, &[])
}

/// One attempt to deliver `body`; `Ok` only on a 2xx.
pub async fn send(
    client: &OutboundClient,
    sink: &WebhookSink,
    auth_token: &str,
    body: Vec<u8>,
) -> Result<(), DeliveryError> {
    let destination = client.policy().parse(&sink.destination).map_err(|e| DeliveryError::Refused(e.to_string()))?;
    let (url, credentials) = signed_url(&destination, &body);
    let method = match sink.method {
        WebhookMethod::Post => reqwest::Method::POST,
        WebhookMethod::Get => reqwest::Method::GET,
    };
    let mut request = client
        .request(method, url.as_str())
        .map_err(|e| DeliveryError::Refused(e.to_string()))?
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Twilio-Signature", twilio_signature(auth_token, url.as_str()))
        .header(reqwest::header::USER_AGENT, "simledger-event-streams")
        .body(body);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(DeliveryError::Status(r.status().as_u16())),
        // The error's text may hold the URL (and its query); say what kind of failure it was.
        Err(e) if e.is_timeout() => Err(DeliveryError::Transport("no answer within 5 s".into())),
        Err(e) if e.is_connect() => Err(DeliveryError::Transport("could not connect".into())),
        Err(_) => Err(DeliveryError::Transport("the request failed".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_64_kb_and_unbatched_bodies_hold_one_event() {
        let event = vec![b'x'; 1500];
        let events = vec![event.clone(); 100];
        let sizes: Vec<usize> = events.iter().map(Vec::len).collect();
        let body = |r: &std::ops::Range<usize>| array(events[r.clone()].iter().map(Vec::as_slice));
        let batched = batches(&sizes, true);
        assert!(batched.iter().all(|r| body(r).len() <= MAX_BATCH_BYTES));
        assert_eq!(batched.iter().map(|r| r.len()).sum::<usize>(), 100);
        assert!(batched.len() < 10);
        let single = batches(&sizes, false);
        assert_eq!(single.len(), 100);
        assert!(single.iter().all(|r| r.len() == 1 && body(r).first() == Some(&b'[') && body(r).last() == Some(&b']')));
        let huge = [MAX_BATCH_BYTES + 10, 10];
        assert_eq!(batches(&huge, true).iter().map(|r| r.len()).collect::<Vec<_>>(), vec![1, 1]);
    }

    #[test]
    fn the_signed_url_drops_userinfo_and_carries_the_body_hash() {
        let dest = Url::parse("https://user:p%40ss@example.com:8443/hook?x=1").unwrap();
        let (url, creds) = signed_url(&dest, b"[]");
        assert_eq!(creds, Some(("user".into(), "p@ss".into())));
        assert_eq!(
            url.as_str(),
            "https://example.com:8443/hook?x=1&bodySHA256=4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }

    #[test]
    fn the_signature_is_base64_hmac_sha1() {
        // RFC 2202, HMAC-SHA1 test case 2, in base64. The end-to-end tests check it against
        // twilio-python's RequestValidator.
        assert_eq!(twilio_signature("Jefe", "what do ya want for nothing?"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }
}
