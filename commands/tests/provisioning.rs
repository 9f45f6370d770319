use sha2::Digest;
use simledger_commands::{CommandError, CommandId, Commands, NewFleet, SimChanges};
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::networks::network_sid;
use simledger_eventlog::EventLog;
use simledger_projections::registry::Registry;
use simledger_services::testing::TestDatabase;

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const OTHER: &str = "AC00000000000000000000000000000002";

struct Fixture {
    _db: TestDatabase,
    commands: Commands,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let registry = simledger_projections::spawn(log.clone(), "registry", Registry);
    Fixture { _db: db, commands: Commands::new(log, registry.progress) }
}

fn code(e: CommandError) -> u32 {
    match e {
        CommandError::Rule { code, .. } => code,
        other => panic!("expected a rule error, got {other:?}"),
    }
}

async fn registered_sim(c: &Commands, n: u32) -> String {
    let iccid = format!("89883070000000{n:05}");
    c.provision_sim(CommandId::random(), &iccid, "1234567890", vec![format!("3102400000{n:05}")]).await.unwrap();
    c.register_sim(CommandId::random(), ACCOUNT, &iccid, "1234567890").await.unwrap()
}

#[tokio::test]
async fn a_command_run_twice_appends_once_and_answers_the_same() {
    let f = fixture().await;
    let cmd = CommandId::named("nap-1");
    let nets = vec![network_sid("234", "15")];
    let first = f.commands.create_nap(cmd, ACCOUNT, Some("uk".into()), nets.clone()).await.unwrap();
    let head = f.commands.log().head().await.unwrap();

    let again = f.commands.create_nap(cmd, ACCOUNT, Some("uk".into()), nets).await.unwrap();

    assert_eq!(first, again);
    assert_eq!(f.commands.log().head().await.unwrap(), head);
}

#[tokio::test]
async fn registering_needs_the_right_code_and_an_unowned_sim() {
    let f = fixture().await;
    let c = &f.commands;
    c.provision_sim(CommandId::random(), "8988307000000000001", "1234567890", vec!["310240000000001".into()])
        .await
        .unwrap();

    let wrong = c.register_sim(CommandId::random(), ACCOUNT, "8988307000000000001", "0000000000").await.unwrap_err();
    let sid = c.register_sim(CommandId::random(), ACCOUNT, "8988307000000000001", "1234567890").await.unwrap();
    let mine = c.register_sim(CommandId::random(), ACCOUNT, "8988307000000000001", "1234567890").await.unwrap_err();
    let theirs = c.register_sim(CommandId::random(), OTHER, "8988307000000000001", "1234567890").await.unwrap_err();

    assert_eq!(code(wrong), 83002);
    assert!(matches!(&mine, CommandError::Rule { code: 83003, message } if message.contains(&sid)), "{mine:?}");
    assert_eq!(code(theirs), 83002);
}

#[tokio::test]
async fn activating_a_sim_without_a_fleet_is_83007_and_a_forbidden_transition_is_83010() {
    let f = fixture().await;
    let c = &f.commands;
    let sim = registered_sim(c, 1).await;
    let activate = SimChanges { status: Some(SimStatus::Active), ..Default::default() };

    assert_eq!(code(c.update_sim(CommandId::random(), ACCOUNT, &sim, activate.clone()).await.unwrap_err()), 83007);

    let nap = c.create_nap(CommandId::random(), ACCOUNT, None, vec![]).await.unwrap();
    let fleet = c.create_fleet(CommandId::random(), ACCOUNT, NewFleet::with_nap(&nap)).await.unwrap();
    let with_fleet = SimChanges { fleet: Some(fleet), ..activate };
    c.update_sim(CommandId::random(), ACCOUNT, &sim, with_fleet).await.unwrap();
    let back_to_ready = SimChanges { status: Some(SimStatus::Ready), ..Default::default() };
    assert_eq!(code(c.update_sim(CommandId::random(), ACCOUNT, &sim, back_to_ready).await.unwrap_err()), 83010);

    let status: String = sqlx::query_scalar("SELECT status FROM registry_sims WHERE sim_sid = $1")
        .bind(&sim)
        .fetch_one(c.log().pool())
        .await
        .unwrap();
    assert_eq!(status, "active");
}

#[tokio::test]
async fn another_accounts_resources_are_not_found() {
    let f = fixture().await;
    let c = &f.commands;
    let sim = registered_sim(c, 2).await;
    let nap = c.create_nap(CommandId::random(), ACCOUNT, None, vec![]).await.unwrap();

    let fleet = c.create_fleet(CommandId::random(), OTHER, NewFleet::with_nap(&nap)).await.unwrap_err();
    let update = c.update_sim(CommandId::random(), OTHER, &sim, SimChanges::default()).await.unwrap_err();

    assert!(matches!(fleet, CommandError::NotFound { what: "NetworkAccessProfile", .. }), "{fleet:?}");
    assert!(matches!(update, CommandError::NotFound { what: "Sim", .. }), "{update:?}");
}

#[tokio::test]
async fn a_data_limit_out_of_bounds_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let c = &f.commands;
    let nap = c.create_nap(CommandId::random(), ACCOUNT, None, vec![]).await.unwrap();
    let head = c.log().head().await.unwrap();
    let out =
        c.create_fleet(CommandId::random(), ACCOUNT, NewFleet { data_limit_mb: 0, ..NewFleet::with_nap(&nap) }).await;
    assert!(matches!(out, Err(CommandError::InvalidParameter { param: "DataLimit", .. })), "{out:?}");
    assert_eq!(c.log().head().await.unwrap(), head);
}

#[tokio::test]
async fn a_unique_name_taken_by_another_fleet_is_a_conflict_but_keeping_ones_own_is_not() {
    let f = fixture().await;
    let c = &f.commands;
    let nap = c.create_nap(CommandId::random(), ACCOUNT, None, vec![]).await.unwrap();
    let named =
        |name: &str| simledger_commands::NewFleet { unique_name: Some(name.into()), ..NewFleet::with_nap(&nap) };
    c.create_fleet(CommandId::random(), ACCOUNT, named("trackers")).await.unwrap();
    let meters = c.create_fleet(CommandId::random(), ACCOUNT, named("meters")).await.unwrap();
    let rename =
        |name: &str| simledger_commands::FleetChanges { unique_name: Some(Some(name.into())), ..Default::default() };

    let same = c.update_fleet(CommandId::random(), ACCOUNT, &meters, rename("meters")).await;
    let taken = c.update_fleet(CommandId::random(), ACCOUNT, &meters, rename("trackers")).await;
    let again = c.create_fleet(CommandId::random(), ACCOUNT, named("trackers")).await;
    // Another account may use the same name.
    let other_nap = c.create_nap(CommandId::random(), OTHER, None, vec![]).await.unwrap();
    let elsewhere = c
        .create_fleet(
            CommandId::random(),
            OTHER,
            simledger_commands::NewFleet { unique_name: Some("trackers".into()), ..NewFleet::with_nap(&other_nap) },
        )
        .await;

    assert_eq!(same.unwrap(), meters);
    assert!(matches!(taken, Err(CommandError::Conflict(_))), "{taken:?}");
    assert!(matches!(again, Err(CommandError::Conflict(_))), "{again:?}");
    assert!(elsewhere.is_ok(), "{elsewhere:?}");
}

#[tokio::test]
async fn a_registration_code_is_stored_salted_and_peppered_never_as_a_bare_hash() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let registry = simledger_projections::spawn(log.clone(), "registry", Registry);
    let c = Commands::new(log.clone(), registry.progress.clone()).with_code_pepper(b"deployment-secret");
    for n in 1..=2 {
        let iccid = format!("8988307000000000{n:03}");
        c.provision_sim(CommandId::random(), &iccid, "1234567890", vec![format!("31024000000{n:04}")]).await.unwrap();
    }
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT data->>'registration_code_hash' FROM events WHERE type = 'sim.provisioned' ORDER BY position",
    )
    .fetch_all(log.pool())
    .await
    .unwrap();
    let bare = hex::encode(sha2::Sha256::digest(b"1234567890"));
    assert_eq!(stored.len(), 2);
    assert_ne!(stored[0], stored[1], "one code on two cards: two different hashes");
    let everything: String =
        sqlx::query_scalar("SELECT string_agg(data::text, '') FROM events").fetch_one(log.pool()).await.unwrap();
    assert!(!everything.contains(&bare) && !everything.contains("1234567890"), "{everything}");
    // Registration checks the code under the deployment's pepper; another deployment's fails.
    let other = Commands::new(log.clone(), registry.progress.clone()).with_code_pepper(b"another-secret");
    let refused = other.register_sim(CommandId::random(), ACCOUNT, "8988307000000000001", "1234567890").await;
    assert_eq!(code(refused.unwrap_err()), 83002);
    let wrong = c.register_sim(CommandId::random(), ACCOUNT, "8988307000000000001", "1234567899").await;
    assert_eq!(code(wrong.unwrap_err()), 83002);
    c.register_sim(CommandId::random(), ACCOUNT, "8988307000000000001", "1234567890").await.unwrap();
}

/// A process appended a command's event and stopped before answering; the caller retries
/// against a fresh process whose registry is still catching up. The retry answers only once the
/// registry shows the earlier run, so the caller's next command is decided on it.
#[tokio::test]
async fn a_retry_after_a_crash_answers_once_the_registry_shows_the_earlier_run() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let cmd = CommandId::named("nap-before-the-crash");

    // The first process: its registry never moves, so the command appends and cannot answer.
    let (_frozen, never) = tokio::sync::watch::channel(0);
    let first = Commands::new(log.clone(), never);
    let nets = vec![network_sid("234", "15")];
    let crashed = tokio::spawn({
        let nets = nets.clone();
        async move { first.create_nap(cmd, ACCOUNT, None, nets).await }
    });
    let appended = loop {
        if let Some(e) = log.find(cmd.event_id(0)).await.unwrap() {
            break e.position;
        }
        tokio::task::yield_now().await;
    };
    crashed.abort();

    // The next process starts its registry from nothing and takes the retry at once.
    let registry = simledger_projections::spawn(log.clone(), "registry", Registry);
    let progress = registry.progress.clone();
    let second = Commands::new(log.clone(), registry.progress);
    let nap = second.create_nap(cmd, ACCOUNT, None, nets).await.unwrap();

    assert!(*progress.borrow() >= appended, "the retry answered before the registry showed its run");
    let fleet = second.create_fleet(CommandId::random(), ACCOUNT, NewFleet::with_nap(&nap)).await;
    assert!(fleet.is_ok(), "a fleet on the retried NAP: {fleet:?}");
}
