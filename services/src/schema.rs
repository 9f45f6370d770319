//! The workspace's schema: every crate's tables, as sqlx migrations in `migrations/`, named
//! after the crate that owns them.

use sqlx::migrate::Migrator;
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

pub async fn migrate(pool: &PgPool) -> crate::Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A short fingerprint of the migration set, so a cached template database is rebuilt when any
/// migration changes.
pub fn fingerprint() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for m in MIGRATOR.iter() {
        for b in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
