//! The operations surface, through HTTP against the real app on a random port.

use std::net::SocketAddr;

use simledger_api::{AppState, Application};
use simledger_eventlog::EventLog;
use simledger_services::testing::{self, TestDatabase};

struct TestApp {
    base: String,
    _db: TestDatabase,
    log: EventLog,
}

async fn spawn_app(with_nats: bool) -> TestApp {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let nats =
        if with_nats { Some(simledger_services::nats::connect(&testing::nats_url()).await.unwrap()) } else { None };
    let app =
        Application::bind(SocketAddr::from(([127, 0, 0, 1], 0)), AppState::new(commands(&log), nats)).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    TestApp { base, _db: db, log }
}

fn commands(log: &EventLog) -> simledger_commands::Commands {
    let registry = simledger_projections::spawn(log.clone(), "registry", simledger_projections::registry::Registry);
    simledger_commands::Commands::new(log.clone(), registry.progress)
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app(true).await;
    let r = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ready_when_postgres_and_nats_answer() {
    let app = spawn_app(true).await;
    let r = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["nats"], "ok");
    assert_eq!(body["log_position"], 0);
}

#[tokio::test]
async fn readyz_is_unavailable_without_nats() {
    let app = spawn_app(false).await;
    let r = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["nats"], "not connected");
}

#[tokio::test]
async fn readyz_is_unavailable_when_postgres_is_gone() {
    let app = spawn_app(true).await;
    app.log.pool().close().await;
    let r = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_ne!(r.json::<serde_json::Value>().await.unwrap()["postgres"], "ok");
}

#[tokio::test]
async fn readyz_reports_a_failing_component_check() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let nats = simledger_services::nats::connect(&testing::nats_url()).await.unwrap();
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let state = AppState::new(commands(&log), Some(nats))
        .with_check("core_publisher", move || flag.load(std::sync::atomic::Ordering::Relaxed));
    let app = Application::bind(SocketAddr::from(([127, 0, 0, 1], 0)), state).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));

    let failing = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(failing.status(), 503);
    assert_eq!(failing.json::<serde_json::Value>().await.unwrap()["checks"]["core_publisher"], "failing");
    healthy.store(true, std::sync::atomic::Ordering::Relaxed);
    let ok = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn metrics_expose_the_event_log_in_prometheus_text() {
    let app = spawn_app(true).await;
    let event = simledger_eventlog::Event::NapCreated(simledger_eventlog::catalog::NapCreated {
        nap_sid: "HA1".into(),
        account_sid: "AC1".into(),
        unique_name: None,
        networks: vec![],
    });
    let e = simledger_eventlog::NewEvent::new(uuid::Uuid::new_v4(), "nap-HA1", &event, &Default::default()).unwrap();
    simledger_api::prometheus_handle();
    app.log.append(vec![e], simledger_eventlog::ExpectedVersion::Any).await.unwrap();

    let r = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(text.contains("simledger_eventlog_appended_total"), "{text}");
}

#[tokio::test]
async fn an_unknown_path_is_a_twilio_404() {
    let app = spawn_app(true).await;
    let r = reqwest::get(format!("{}/v1/Nothing/Here", app.base)).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], 20404);
    assert_eq!(body["status"], 404);
    assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/20404");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn openapi_json_is_served_and_names_every_route() {
    let app = spawn_app(true).await;
    let spec: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(spec["paths"][path].is_object(), "{path} missing from the spec");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_without_a_cdn() {
    let app = spawn_app(true).await;
    let page = reqwest::get(format!("{}/docs/", app.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains("cdn.") && !html.contains("unpkg.com"), "{html}");
    let bundle = reqwest::get(format!("{}/docs/swagger-ui-bundle.js", app.base)).await.unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_503_and_the_api_goes_on() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    // A registry that never catches up: a command waits for it until the deadline cuts it off.
    let (_stalled, progress) = tokio::sync::watch::channel(0);
    let state = AppState::new(simledger_commands::Commands::new(log.clone(), progress), None)
        .with_request_timeout(std::time::Duration::from_millis(300));
    let who = state.accounts.create("slow", simledger_commands::Role::Customer).await.unwrap();
    let app = Application::bind(SocketAddr::from(([127, 0, 0, 1], 0)), state).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let r = http
        .post(format!("{base}/v1/ESimProfiles"))
        .basic_auth(&who.sid, Some(&who.secret))
        .form(&[("CallbackUrl", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().is_some_and(|m| m.contains("too long")), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "cut off at the deadline, not the wait's end");
    // The server goes on answering.
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
}
