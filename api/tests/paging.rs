//! Twilio's paging over keyset cursors.

mod common;

use common::{assert_error, spawn_app};

#[tokio::test]
async fn pages_follow_next_and_previous_urls_through_every_sim_once() {
    let app = spawn_app().await;
    let mut sids = Vec::new();
    for n in 0..7 {
        sids.push(app.sim(&app.alice, n).await);
    }
    sids.sort();
    let first = app.get(&app.alice, "/v1/Sims?Status=new&PageSize=3").await.body;
    let meta = &first["meta"];
    assert_eq!(meta["page"], 0);
    assert_eq!(meta["page_size"], 3);
    assert_eq!(meta["key"], "sims");
    assert!(meta["previous_page_url"].is_null());
    assert_eq!(meta["first_page_url"], format!("{}/v1/Sims?Status=new&PageSize=3&Page=0", app.base));
    assert_eq!(meta["url"], meta["first_page_url"]);
    let mut seen = Vec::new();
    let mut page = first;
    let mut pages = vec![];
    loop {
        seen.extend(page["sims"].as_array().unwrap().iter().map(|s| s["sid"].as_str().unwrap().to_owned()));
        pages.push(page.clone());
        let Some(next) = page["meta"]["next_page_url"].as_str() else { break };
        assert!(next.contains("Status=new"), "{next}");
        page = app.get(&app.alice, next).await.body;
    }
    assert_eq!(seen, sids);
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[2]["meta"]["page"], 2);
    // Going back from the last page gives the middle page again.
    let back = app.get(&app.alice, pages[2]["meta"]["previous_page_url"].as_str().unwrap()).await.body;
    assert_eq!(back["sims"], pages[1]["sims"]);
    assert_eq!(back["meta"]["page"], 1);
}

#[tokio::test]
async fn a_page_number_without_a_token_is_an_offset() {
    let app = spawn_app().await;
    for n in 0..5 {
        app.sim(&app.alice, n).await;
    }
    let all = app.get(&app.alice, "/v1/Sims").await.body["sims"].clone();
    let second = app.get(&app.alice, "/v1/Sims?PageSize=2&Page=1").await.body;
    assert_eq!(second["sims"][0], all[2]);
    assert_eq!(second["sims"][1], all[3]);
}

#[tokio::test]
async fn bad_paging_parameters_are_20001() {
    let app = spawn_app().await;
    for q in ["PageSize=0", "PageSize=1001", "PageSize=two", "Page=-1", "PageToken=garbage"] {
        assert_error(&app.get(&app.alice, &format!("/v1/Sims?{q}")).await, 400, 20001);
    }
}
