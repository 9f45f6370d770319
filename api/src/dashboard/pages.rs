//! The dashboard's HTML, script and style, compiled into the binary: nothing is fetched at run
//! time, and no build step stands between `cargo run` and the page. Charts are SVG drawn by
//! the page's own script.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::AppState;

pub const LOGIN: &str = include_str!("assets/login.html");
const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/dashboard", get(|| async { Redirect::permanent("/dashboard/") }))
        .route("/dashboard/", get(index))
        .route("/dashboard/login", get(|| async { super::session::login_page(StatusCode::OK, "") }))
        .route("/dashboard/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/dashboard/assets/app.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !super::session::signed_in(&state, &headers).await {
        return Redirect::to("/dashboard/login").into_response();
    }
    (html_headers(), Html(INDEX)).into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut headers = html_headers();
    headers[0] = (header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (headers, body).into_response()
}

/// What every page is served with: its own scripts and styles only, never framed, never
/// cached, no referrer sent to another site (`same-origin`: with `no-referrer` a browser sends
/// `Origin: null` on the dashboard's own form posts, which the same-origin rule refuses).
pub fn html_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// Text made safe to place in HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
