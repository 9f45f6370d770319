//! Test support: every test gets its own database, cloned from a migrated template (cheap), and
//! its own NATS name prefix, against the real services.
//!
//! The template is named after the migrations' fingerprint, so it is rebuilt when the schema
//! changes and reused across test binaries otherwise.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::{ConnectOptions, Executor, PgPool};
use tokio::sync::OnceCell;

use crate::postgres::{maintenance_options, quote_ident};
use crate::{nats, postgres, schema, DataDir};

/// The server tests use: `SIMLEDGER_TEST_DATABASE_URL`, else the standard local one.
pub fn server_url() -> String {
    std::env::var("SIMLEDGER_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The NATS server tests use: `SIMLEDGER_TEST_NATS_URL`, else the standard local one.
pub fn nats_url() -> String {
    std::env::var("SIMLEDGER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// The workspace's `.data/`, where services the tests start keep their files.
pub fn data_dir() -> DataDir {
    DataDir(
        std::env::var_os("SIMLEDGER_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.data"))),
    )
}

static SERVICES: OnceCell<String> = OnceCell::const_new();

/// Starts Postgres and NATS if needed and builds the template; once per test process.
async fn template() -> &'static str {
    SERVICES
        .get_or_init(|| async {
            crate::init_test_tracing();
            let url = server_url();
            postgres::ensure_running(&url, &data_dir()).await.expect("PostgreSQL for tests");
            nats::ensure_running(&nats_url(), &data_dir()).await.expect("NATS for tests");
            build_template(&url).await.expect("template database for tests")
        })
        .await
}

async fn build_template(url: &str) -> crate::Result<String> {
    let name = format!("simledger_tmpl_{}", schema::fingerprint());
    let mut admin = maintenance_options(url)?.connect().await?;
    // Test binaries may run side by side; one builds the template, the others wait for it.
    admin.execute("SELECT pg_advisory_lock(727274)").await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        drop_stale_templates(&mut admin, &name).await?;
        let building = format!("{name}_building");
        admin.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&building)).as_str()).await?;
        admin.execute(format!("CREATE DATABASE {}", quote_ident(&building)).as_str()).await?;
        {
            let opts = maintenance_options(url)?.database(&building);
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_with(opts).await?;
            schema::migrate(&pool).await?;
            pool.close().await;
        }
        // Renamed only once complete, so a crash mid-migration never leaves a broken template.
        admin
            .execute(format!("ALTER DATABASE {} RENAME TO {}", quote_ident(&building), quote_ident(&name)).as_str())
            .await?;
        admin.execute(format!("ALTER DATABASE {} IS_TEMPLATE true", quote_ident(&name)).as_str()).await?;
        stamp(&mut admin, &name).await?;
    }
    admin.execute("SELECT pg_advisory_unlock(727274)").await?;
    Ok(name)
}

/// How long a template of another schema is kept: another checkout on this machine (a CI clone
/// beside a working tree) may be cloning test databases from it right now.
const STALE_TEMPLATE_AGE_SECONDS: i64 = 24 * 3600;

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Records when a template was built, in its database comment.
async fn stamp(admin: &mut sqlx::PgConnection, name: &str) -> crate::Result<()> {
    let now = unix_now();
    admin.execute(format!("COMMENT ON DATABASE {} IS 'built {now}'", quote_ident(name)).as_str()).await?;
    Ok(())
}

/// Drops the templates of other schemas built more than a day ago. One without a stamp (built
/// before stamps) is stamped now, so it goes a day later.
async fn drop_stale_templates(admin: &mut sqlx::PgConnection, keep: &str) -> crate::Result<()> {
    let others: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE datname LIKE 'simledger\\_tmpl\\_%' AND datname <> $1 AND datname NOT LIKE '%\\_building'",
    )
    .bind(keep)
    .fetch_all(&mut *admin)
    .await?;
    let now = unix_now();
    for (old, comment) in others {
        let built = comment.as_deref().and_then(|c| c.strip_prefix("built ")).and_then(|t| t.parse::<i64>().ok());
        match built {
            None => stamp(admin, &old).await?,
            Some(at) if now - at > STALE_TEMPLATE_AGE_SECONDS => {
                let q = quote_ident(&old);
                admin.execute(format!("ALTER DATABASE {q} IS_TEMPLATE false").as_str()).await?;
                admin.execute(format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)").as_str()).await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A fresh, migrated database of its own for one test; dropped when the value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let template = template().await;
        let name = format!("simledger_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = maintenance_options(&server_url())
            .expect("test server URL")
            .connect()
            .await
            .expect("connect to test server");
        let create = format!("CREATE DATABASE {} TEMPLATE {}", quote_ident(&name), quote_ident(template));
        let mut attempt = 0;
        loop {
            match admin.execute(create.as_str()).await {
                Ok(_) => break,
                // "source database is being accessed by other users": a concurrent clone.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("creating test database {name}: {e}"),
            }
        }
        let url = postgres::with_database(&server_url(), &name);
        Self { name, url }
    }

    pub async fn pool(&self) -> PgPool {
        postgres::connect(&self.url, 16).await.expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop may run inside or outside a runtime; a thread with its own runtime works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(postgres::drop_database(&url)).ok()
        })
        .join();
    }
}

/// A NATS subject/stream prefix no other test shares.
pub fn unique_nats_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
