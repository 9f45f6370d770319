//! The dashboard's HTTP surface: sign-in and sessions, the same-origin rule for writes, tenant
//! isolation, the JSON endpoints' figures against `/v1`'s, and the live feed's resumption.
//! (The pages themselves are driven in Chromium by `tests/dashboard_browser.rs`.)

mod common;

use std::time::Duration;

use common::{spawn_app, Answer, TestApp};
use futures_util::StreamExt;
use serde_json::{json, Value};
use simledger_commands::Credential;

/// A browser's view: the session cookie, and no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(app: &TestApp, who: &Credential) -> Browser {
    let r = client()
        .post(app.url("/dashboard/login"))
        .header("Origin", &app.base)
        .form(&[("sid", who.sid.as_str()), ("token", who.secret.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    assert_eq!(r.headers()["location"], "/dashboard/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age="] {
        assert!(set.contains(flag), "{set} lacks {flag}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    Browser { http: client(), base: app.base.clone(), cookie }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

impl Browser {
    async fn get(&self, path: &str) -> Answer {
        answer(self.http.get(format!("{}{path}", self.base)).header("Cookie", &self.cookie).send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Value, origin: Option<&str>) -> Answer {
        let mut r = self.http.post(format!("{}{path}", self.base)).header("Cookie", &self.cookie).json(&body);
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        answer(r.send().await.unwrap()).await
    }

    async fn post_same_origin(&self, path: &str, body: Value) -> Answer {
        let origin = self.base.clone();
        self.post(path, body, Some(&origin)).await
    }
}

/// Every JSON endpoint, with a SIM SID where one is needed.
fn endpoints(sim: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/dashboard/api/session".into()),
        ("GET", "/dashboard/api/overview".into()),
        ("GET", "/dashboard/api/sims".into()),
        ("GET", format!("/dashboard/api/sims/{sim}")),
        ("GET", format!("/dashboard/api/sims/{sim}/usage")),
        ("POST", format!("/dashboard/api/sims/{sim}")),
        ("POST", format!("/dashboard/api/sims/{sim}/sms")),
        ("GET", "/dashboard/api/fleets".into()),
        ("GET", "/dashboard/api/usage".into()),
        ("GET", "/dashboard/api/billing".into()),
        ("GET", "/dashboard/api/exports".into()),
        ("GET", "/dashboard/api/events".into()),
        ("GET", "/dashboard/api/events/stream".into()),
    ]
}

#[tokio::test]
async fn every_dashboard_endpoint_refuses_a_request_without_a_valid_session() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let forged = format!("simledger_session={}", "ab".repeat(32));
    for (method, path) in endpoints(&sim) {
        for cookie in [None, Some(forged.as_str()), Some("simledger_session=' OR 1=1 --")] {
            let mut r = match method {
                "GET" => app.http.get(app.url(&path)),
                _ => app.http.post(app.url(&path)).header("Origin", &app.base).json(&json!({"status": "inactive"})),
            };
            if let Some(c) = cookie {
                r = r.header("Cookie", c);
            }
            // /v1's Basic credentials do not open the dashboard's endpoints either.
            let r = r.basic_auth(&app.alice.sid, Some(&app.alice.secret)).send().await.unwrap();
            assert!(r.headers().get("www-authenticate").is_none(), "no browser credential prompt: {path}");
            let a = answer(r).await;
            common::assert_error(&a, 401, 20003);
        }
    }
    // Nothing changed: the SIM is as registered.
    let s = app.get(&app.alice, &format!("/v1/Sims/{sim}")).await;
    assert_eq!(s.body["status"], "new");
    // Pages send the signed-out browser to sign-in.
    let page = client().get(app.url("/dashboard/")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/dashboard/login");
}

#[tokio::test]
async fn wrong_or_hostile_sign_ins_are_refused_with_a_page_and_start_no_session() {
    let app = spawn_app().await;
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![("sid", app.alice.sid.clone()), ("token", "wrong".into())], 401),
        (vec![("sid", app.alice.sid.clone())], 400),
        (vec![("sid", format!("{}\0", app.alice.sid)), ("token", app.alice.secret.clone())], 401),
        (vec![("sid", "x".repeat(5000)), ("token", app.alice.secret.clone())], 413),
        (vec![("sid", "<script>alert(1)</script>".into()), ("token", "t".into())], 401),
    ];
    for (form, status) in cases {
        let r =
            client().post(app.url("/dashboard/login")).header("Origin", &app.base).form(&form).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{form:?}");
        assert!(r.headers().get("set-cookie").is_none(), "no session for {form:?}");
        let page = r.text().await.unwrap();
        assert!(!page.contains("<script>alert"), "input is never echoed into the page");
    }
    // A sign-in posted from another site (login CSRF) is refused even with good credentials.
    let r = client()
        .post(app.url("/dashboard/login"))
        .header("Origin", "http://evil.example")
        .form(&[("sid", app.alice.sid.as_str()), ("token", app.alice.secret.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dashboard_sessions").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(sessions, 0);
    // Alice still signs in.
    let alice = sign_in(&app, &app.alice).await;
    assert_eq!(alice.get("/dashboard/api/session").await.body["account_sid"], app.alice.sid.as_str());
}

#[tokio::test]
async fn sign_out_and_expiry_end_a_session_and_no_secret_is_ever_in_a_page() {
    let app = spawn_app().await;
    let alice = sign_in(&app, &app.alice).await;
    let token = alice.cookie.split('=').nth(1).unwrap().to_owned();
    let page = alice.http.get(format!("{}/dashboard/", app.base)).header("Cookie", &alice.cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    for asset in ["/dashboard/assets/app.js", "/dashboard/assets/app.css"] {
        assert!(html.contains(asset));
        let body = app.http.get(app.url(asset)).send().await.unwrap().text().await.unwrap();
        assert!(!body.contains(&app.alice.secret) && !body.contains(&token));
    }
    assert!(!html.contains(&app.alice.secret) && !html.contains(&token), "no secret in the page");
    let session = alice.get("/dashboard/api/session").await.body.to_string();
    assert!(!session.contains(&app.alice.secret) && !session.contains(&token), "no secret in the JSON");
    // Only a hash of the token is stored.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dashboard_sessions WHERE encode(token_sha256, 'hex') = $1")
            .bind(&token)
            .fetch_one(app.log.pool())
            .await
            .unwrap();
    assert_eq!(stored, 0);

    // Sign-out from another origin is refused and ends nothing.
    let r = alice
        .http
        .post(app.url("/dashboard/logout"))
        .header("Cookie", &alice.cookie)
        .header("Origin", "http://evil.example");
    assert_eq!(r.send().await.unwrap().status(), 403);
    assert_eq!(alice.get("/dashboard/api/session").await.status, 200);
    let r = alice.http.post(app.url("/dashboard/logout")).header("Cookie", &alice.cookie).header("Origin", &app.base);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(alice.get("/dashboard/api/session").await.status, 401, "the copied cookie no longer works");

    // A credential keeps its 20 newest sessions: signing in in a loop fills no table.
    let first = sign_in(&app, &app.alice).await;
    for _ in 0..25 {
        sign_in(&app, &app.alice).await;
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM dashboard_sessions WHERE credential_sid = $1")
        .bind(&app.alice.sid)
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(kept, 20);
    assert_eq!(first.get("/dashboard/api/session").await.status, 401, "the oldest session ended");

    // A session past its expiry is refused.
    let bob = sign_in(&app, &app.bob).await;
    assert_eq!(bob.get("/dashboard/api/overview").await.status, 200);
    sqlx::query("UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' WHERE account_sid = $1")
        .bind(&app.bob.sid)
        .execute(app.log.pool())
        .await
        .unwrap();
    assert_eq!(bob.get("/dashboard/api/overview").await.status, 401);
}

#[tokio::test]
async fn a_write_not_from_the_dashboards_origin_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let alice = sign_in(&app, &app.alice).await;
    let path = format!("/dashboard/api/sims/{sim}");
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let a = alice.post(&path, json!({"status": "active"}), origin).await;
        common::assert_error(&a, 403, 20403);
        let a = alice.post(&format!("{path}/sms"), json!({"payload": "hi"}), origin).await;
        common::assert_error(&a, 403, 20403);
    }
    // A form post (what a cross-site page could send without a preflight) is not accepted.
    let r = alice
        .http
        .post(app.url(&path))
        .header("Cookie", &alice.cookie)
        .header("Origin", &app.base)
        .form(&[("status", "active")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(app.get(&app.alice, &format!("/v1/Sims/{sim}")).await.body["status"], "new");
    let sms = app.get(&app.alice, "/v1/SmsCommands").await;
    assert_eq!(sms.body["sms_commands"].as_array().unwrap().len(), 0);

    // From the dashboard itself, the same commands as /v1 run.
    let (_, fleet) = app.fleet(&app.alice).await;
    let a = alice.post_same_origin(&path, json!({"status": "active", "fleet": fleet})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let s = app.get(&app.alice, &format!("/v1/Sims/{sim}")).await;
    assert_eq!((s.body["status"].as_str(), s.body["fleet_sid"].as_str()), (Some("active"), Some(fleet.as_str())));
    let a = alice.post_same_origin(&format!("{path}/sms"), json!({"payload": "ping"})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.body["sid"].as_str().unwrap().starts_with("HC"));
    // Twilio's rules and codes still hold: a SIM cannot go back to `new`, an SMS is ≤160.
    let a = alice.post_same_origin(&path, json!({"status": "new"})).await;
    assert_eq!(a.status, 400);
    let a = alice.post_same_origin(&format!("{path}/sms"), json!({"payload": "x".repeat(161)})).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let a = alice.post_same_origin(&path, json!({"status": "active", "AccountSid": app.bob.sid})).await;
    assert_eq!(a.status, 400, "unknown fields are refused: {:?}", a.body);
}

#[tokio::test]
async fn a_customer_cannot_see_or_touch_another_account() {
    let app = spawn_app().await;
    let alices = app.sim(&app.alice, 1).await;
    let bobs = app.sim(&app.bob, 2).await;
    let alice = sign_in(&app, &app.alice).await;
    let bob_account = format!("account={}", app.bob.sid);
    for path in [
        format!("/dashboard/api/sims/{bobs}"),
        format!("/dashboard/api/sims/{bobs}/usage"),
        format!("/dashboard/api/overview?{bob_account}"),
        format!("/dashboard/api/sims?{bob_account}"),
        format!("/dashboard/api/fleets?{bob_account}"),
        format!("/dashboard/api/usage?{bob_account}"),
        format!("/dashboard/api/billing?{bob_account}"),
        format!("/dashboard/api/exports?{bob_account}"),
        format!("/dashboard/api/events?{bob_account}"),
        format!("/dashboard/api/events/stream?{bob_account}"),
    ] {
        let a = alice.get(&path).await;
        common::assert_error(&a, 404, 20404);
    }
    let a = alice.post_same_origin(&format!("/dashboard/api/sims/{bobs}"), json!({"status": "active"})).await;
    common::assert_error(&a, 404, 20404);
    let a = alice.post_same_origin(&format!("/dashboard/api/sims/{bobs}/sms"), json!({"payload": "x"})).await;
    common::assert_error(&a, 404, 20404);
    assert_eq!(app.get(&app.bob, &format!("/v1/Sims/{bobs}")).await.body["status"], "new");

    // Alice's figures and history hold her SIM only.
    app.dashboard.reached(app.log.head().await.unwrap()).await;
    let o = alice.get("/dashboard/api/overview").await;
    assert_eq!(o.body["sims_total"], 1, "{:?}", o.body);
    let events = alice.get("/dashboard/api/events?after=0").await;
    let sims: Vec<&str> =
        events.body["events"].as_array().unwrap().iter().filter_map(|e| e["sim_sid"].as_str()).collect();
    assert!(sims.contains(&alices.as_str()) && !sims.contains(&bobs.as_str()), "{sims:?}");
    assert!(events.body["events"].as_array().unwrap().iter().all(|e| e["account_sid"] == app.alice.sid.as_str()));

    // Platform-wide figures are the operator's.
    assert_eq!(o.body["projections"], json!([]));
    assert_eq!(o.body["log_head"], 0);

    // Bob kept working throughout.
    let bob = sign_in(&app, &app.bob).await;
    assert_eq!(bob.get(&format!("/dashboard/api/sims/{bobs}")).await.body["sid"], bobs.as_str());

    // An operator sees every account, and any SIM.
    let ops = sign_in(&app, &app.operator).await;
    let s = ops.get("/dashboard/api/session").await;
    assert_eq!(s.body["role"], "operator");
    assert!(s.body["accounts"].as_array().unwrap().iter().any(|a| a["sid"] == app.bob.sid.as_str()));
    let all = ops.get("/dashboard/api/overview").await.body;
    assert_eq!(all["sims_total"], 2);
    assert!(all["projections"].as_array().unwrap().iter().any(|p| p["name"] == "dashboard"));
    assert_eq!(ops.get(&format!("/dashboard/api/overview?{bob_account}")).await.body["sims_total"], 1);
    assert_eq!(ops.get(&format!("/dashboard/api/sims/{bobs}")).await.body["account_sid"], app.bob.sid.as_str());
    let a = ops.get("/dashboard/api/overview?account=AC'%20OR%201=1").await;
    common::assert_error(&a, 404, 20404);
}

#[tokio::test]
async fn the_overview_counts_equal_the_apis_and_the_sim_page_holds_its_history() {
    let app = spawn_app().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let mut sims = Vec::new();
    for n in 0..5 {
        sims.push(app.sim(&app.alice, n).await);
    }
    for sim in &sims[..3] {
        let r = app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Status", "active"), ("Fleet", &fleet)]).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = app.post(&app.alice, &format!("/v1/Sims/{}", sims[3]), &[("Status", "ready")]).await;
    assert_eq!(r.status, 200);
    app.dashboard.reached(app.log.head().await.unwrap()).await;

    let listed = app.get(&app.alice, "/v1/Sims?PageSize=100").await.body["sims"].as_array().unwrap().clone();
    let count = |status: &str| listed.iter().filter(|s| s["status"] == status).count() as i64;
    let alice = sign_in(&app, &app.alice).await;
    let o = alice.get("/dashboard/api/overview").await.body;
    assert_eq!(o["sims_total"], listed.len() as i64);
    assert_eq!(o["sims_active"], count("active"));
    for s in o["sims_by_status"].as_array().unwrap() {
        assert_eq!(s["sims"], count(s["status"].as_str().unwrap()), "{s}");
    }
    let in_fleet = o["sims_by_fleet"].as_array().unwrap().iter().find(|f| f["fleet_sid"] == fleet.as_str()).unwrap();
    assert_eq!((in_fleet["sims"].as_i64(), in_fleet["active"].as_i64()), (Some(3), Some(3)));
    assert!(o["minutes"].as_array().unwrap().iter().map(|m| m["events"].as_i64().unwrap()).sum::<i64>() > 0);

    let page = alice.get(&format!("/dashboard/api/sims/{}", sims[0])).await.body;
    assert_eq!(page["status"], "active");
    assert_eq!(page["fleet"]["sid"], fleet.as_str());
    let types: Vec<&str> = page["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"sim.registered") && types.contains(&"sim.status_changed"), "{types:?}");
    assert!(!types.contains(&"sim.provisioned"), "inventory facts are the operator's: {types:?}");
    let a = alice.get(&format!("/dashboard/api/sims/{}/usage?granularity=week", sims[0])).await;
    common::assert_error(&a, 400, 20001);
}

/// Server-Sent Events read from a response: `(event, id, data)`, until `n` `event`s arrived.
async fn read_events(r: reqwest::Response, n: usize) -> Vec<(String, i64, Value)> {
    let mut stream = r.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next()).await.expect("events within 15 s");
        buffer.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).map(str::to_owned);
            if field("event:").as_deref() == Some("event") {
                let id = field("id:").unwrap().parse().unwrap();
                events.push(("event".into(), id, serde_json::from_str(&field("data:").unwrap()).unwrap()));
            }
        }
    }
    events
}

#[tokio::test]
async fn the_live_feed_resumes_from_the_last_event_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let bobs = app.sim(&app.bob, 2).await;
    let alice = sign_in(&app, &app.alice).await;
    let start = app.log.head().await.unwrap();
    let open = |last: Option<i64>| {
        let mut r = alice
            .http
            .get(format!("{}/dashboard/api/events/stream?after={start}", app.base))
            .header("Cookie", &alice.cookie);
        if let Some(id) = last {
            r = r.header("Last-Event-ID", id.to_string());
        }
        r.send()
    };
    let rename = |who: &Credential, sid: &str, name: String| {
        let path = format!("/v1/Sims/{sid}");
        let who = who.clone();
        let app = &app;
        async move {
            let r = app.post(&who, &path, &[("UniqueName", &name)]).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    };
    let first = open(None).await.unwrap();
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    for n in 0..3 {
        rename(&app.alice, &sim, format!("a{n}")).await;
        rename(&app.bob, &bobs, format!("b{n}")).await;
    }
    let seen = read_events(first, 3).await;
    let last = seen.last().unwrap().1;
    // The browser went away; meanwhile more was committed.
    for n in 3..6 {
        rename(&app.alice, &sim, format!("a{n}")).await;
        rename(&app.bob, &bobs, format!("b{n}")).await;
    }
    let resumed = read_events(open(Some(last)).await.unwrap(), 3).await;
    let positions: Vec<i64> = seen.iter().chain(&resumed).map(|e| e.1).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order, none twice: {positions:?}");
    let logged: Vec<i64> = alice.get(&format!("/dashboard/api/events?after={start}")).await.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, logged, "the feed holds exactly the account's events");
    assert!(seen.iter().chain(&resumed).all(|e| e.2["sim_sid"] == sim.as_str()), "never Bob's");
}

#[tokio::test]
async fn hostile_feed_requests_are_refused_and_one_account_cannot_hold_every_feed() {
    let app = spawn_app().await;
    let alice = sign_in(&app, &app.alice).await;
    let get = |extra: (&'static str, String)| {
        alice
            .http
            .get(format!("{}/dashboard/api/events/stream", app.base))
            .header("Cookie", &alice.cookie)
            .header(extra.0, extra.1)
            .send()
    };
    let a = answer(get(("Last-Event-ID", "'; DROP TABLE events; --".into())).await.unwrap()).await;
    common::assert_error(&a, 400, 20001);
    let plain = get(("X-Nothing", String::new())).await.unwrap();
    assert_eq!(plain.status(), 200, "a plain feed opens");
    drop(plain);
    let a = alice.get("/dashboard/api/events/stream?after=-5").await;
    common::assert_error(&a, 400, 20001);
    let a = alice.get(&format!("/dashboard/api/events/stream?sim={}", "x".repeat(500))).await;
    common::assert_error(&a, 400, 20001);
    let a = alice.get("/dashboard/api/events?after=10&before=5").await;
    common::assert_error(&a, 400, 20001);

    // Eight open feeds are Alice's share; a ninth is refused, Bob's first is not.
    let mut open = Vec::new();
    for _ in 0..8 {
        let r = get(("X-Nothing", String::new())).await.unwrap();
        assert_eq!(r.status(), 200);
        open.push(r);
    }
    let ninth = answer(get(("X-Nothing", String::new())).await.unwrap()).await;
    assert_eq!(ninth.status, 429, "{:?}", ninth.body);
    let bob = sign_in(&app, &app.bob).await;
    let r = bob
        .http
        .get(format!("{}/dashboard/api/events/stream", app.base))
        .header("Cookie", &bob.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A closed feed gives its place back.
    drop(open.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(("X-Nothing", String::new())).await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a closed feed's place is freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_exports_page_shows_each_tenants_own_runs_and_files() {
    use simledger_eventlog::{ExpectedVersion, Metadata, NewEvent};
    let app = spawn_app().await;
    let mut files = Vec::new();
    for (who, n) in [(&app.alice, 3u32), (&app.bob, 2)] {
        let dir = app.export_root.join(&who.sid).join("cdrs");
        std::fs::create_dir_all(&dir).unwrap();
        let created =
            app.post(who, "/v1/Billing/Exporters", &[("Id", "all"), ("ExportPath", dir.to_str().unwrap())]).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let batch = (0..n)
            .map(|i| {
                let e = common::cdr_events::ended_session(&who.sid, "HS1", i, 1000);
                NewEvent::new(uuid::Uuid::new_v4(), "s", &e, &Metadata::from_source("test")).unwrap()
            })
            .collect();
        app.log.append(batch, ExpectedVersion::Any).await.unwrap();
        assert!(app.cdrs.reached(app.log.head().await.unwrap()).await);
        let run = app.post(who, "/v1/Billing/Exporters/all/Runs", &[]).await;
        assert_eq!(run.body["NumberOfEvents"], n, "{:?}", run.body);
        files.push(run.body["FilePaths"].clone());
        // A run with nothing new records nothing.
        assert_eq!(app.post(who, "/v1/Billing/Exporters/all/Runs", &[]).await.body["NumberOfEvents"], 0);
    }
    let alice = sign_in(&app, &app.alice).await;
    let x = alice.get("/dashboard/api/exports").await.body;
    let runs = x["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "Alice's one run, not Bob's: {runs:?}");
    assert_eq!((runs[0]["cdrs"].as_i64(), &runs[0]["files"]), (Some(3), &files[0]));
    let exporters = x["exporters"].as_array().unwrap();
    assert_eq!(exporters.len(), 1);
    assert_eq!(
        (exporters[0]["cdrs_behind"].as_i64(), exporters[0]["tenant"].as_str()),
        (Some(0), Some(app.alice.sid.as_str()))
    );
    let ops = sign_in(&app, &app.operator).await;
    assert_eq!(ops.get("/dashboard/api/exports").await.body["runs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_api_key_signs_in_as_its_account_and_a_revoked_one_cannot() {
    let app = spawn_app().await;
    let key = app.accounts.create_key(&app.alice.sid, "dashboard").await.unwrap();
    let by_key = sign_in(&app, &key).await;
    assert_eq!(by_key.get("/dashboard/api/session").await.body["account_sid"], app.alice.sid.as_str());
    let revoked = app.delete(&app.operator, &format!("/operator/Accounts/{}/Keys/{}", app.alice.sid, key.sid)).await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    assert_eq!(by_key.get("/dashboard/api/session").await.status, 401, "its open session ended with it");
    let r = client()
        .post(app.url("/dashboard/login"))
        .header("Origin", &app.base)
        .form(&[("sid", key.sid.as_str()), ("token", key.secret.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a revoked key opens no new session");
}

#[tokio::test]
async fn an_open_feed_ends_when_its_session_does() {
    let app = spawn_app().await;
    let alice = sign_in(&app, &app.alice).await;
    let feed = alice
        .http
        .get(format!("{}/dashboard/api/events/stream", app.base))
        .header("Cookie", &alice.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let r = alice.http.post(app.url("/dashboard/logout")).header("Cookie", &alice.cookie).header("Origin", &app.base);
    assert_eq!(r.send().await.unwrap().status(), 303);
    // The server closes the stream within its session check (every 10 s).
    let mut body = feed.bytes_stream();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the feed outlived its session");
}
