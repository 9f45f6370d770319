use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Identifies one command, the unit of idempotency: the events it appends and the SIDs it mints
/// are derived from it, so running it twice appends once and answers the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandId(Uuid);

impl CommandId {
    /// A fresh command (an API request without an idempotency key).
    pub fn random() -> Self {
        Self(Uuid::now_v7())
    }

    /// A command named by the caller (`Idempotency-Key`, or the simulator's seed and step).
    pub fn named(key: &str) -> Self {
        Self(Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("simledger-command:{key}").as_bytes()))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The id of the command's `n`th event.
    pub fn event_id(&self, n: u8) -> Uuid {
        Uuid::new_v5(&self.0, &[b'e', n])
    }

    /// A Twilio-style SID (`prefix` + 32 hex) minted by this command.
    pub fn sid(&self, prefix: &str) -> String {
        format!("{prefix}{}", Uuid::new_v5(&self.0, prefix.as_bytes()).simple())
    }
}

/// SHA-256 of a registration code, hex; the code itself is never stored.
pub fn registration_code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}
