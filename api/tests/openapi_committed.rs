//! `openapi/openapi.json` is what the code generates. Regenerate with
//! `SIMLEDGER_UPDATE_OPENAPI=1 cargo test -p simledger-api --test openapi_committed`.

#[test]
fn the_committed_openapi_json_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let generated = simledger_api::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("SIMLEDGER_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale; run SIMLEDGER_UPDATE_OPENAPI=1 cargo test -p simledger-api --test openapi_committed"
    );
}
