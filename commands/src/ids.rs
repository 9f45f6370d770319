use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use simledger_ids::{Sid, SidKind};
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

    /// The SID of kind `K` this command mints (the same text as [`CommandId::sid`] with its
    /// prefix).
    pub fn typed_sid<K: SidKind>(&self) -> Sid<K> {
        Sid::from_digits(&Uuid::new_v5(&self.0, K::PREFIX.as_bytes()).simple().to_string())
            .expect("a UUID's simple form is 32 hex digits")
    }
}

/// How a registration code is stored: `hmac-sha256$<salt>$<mac>`, the MAC keyed by `pepper`
/// (the deployment secret, never in the database) over a random per-card salt and the code.
/// A code has only 10^10 values: with a bare hash, anyone holding the log or the table could
/// try them all offline; with the pepper kept apart, the log alone reveals nothing, and the
/// salt keeps two cards with one code apart.
pub fn registration_code_hash(pepper: &[u8], code: &str) -> String {
    let salt: [u8; 16] = rand::random();
    format!("hmac-sha256${}${}", hex::encode(salt), hex::encode(code_mac(pepper, &salt, code).finalize().into_bytes()))
}

/// Whether `code` is the one `stored` was made from (in constant time); also reads the bare
/// SHA-256 hex that events from before salting hold.
pub fn registration_code_matches(pepper: &[u8], stored: &str, code: &str) -> bool {
    match stored.split('$').collect::<Vec<_>>().as_slice() {
        ["hmac-sha256", salt, mac] => {
            let (Ok(salt), Ok(mac)) = (hex::decode(salt), hex::decode(mac)) else { return false };
            code_mac(pepper, &salt, code).verify_slice(&mac).is_ok()
        }
        [legacy] => hex::decode(legacy).is_ok_and(|h| {
            let digest = Sha256::digest(code.as_bytes());
            h.len() == digest.len() && h.iter().zip(digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }),
        _ => false,
    }
}

fn code_mac(pepper: &[u8], salt: &[u8], code: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes a key of any length");
    mac.update(salt);
    mac.update(code.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_hashed_with_salt_and_pepper_matches_only_itself_under_that_pepper() {
        let stored = registration_code_hash(b"pepper", "1234567890");
        assert!(registration_code_matches(b"pepper", &stored, "1234567890"));
        assert!(!registration_code_matches(b"pepper", &stored, "1234567891"));
        assert!(!registration_code_matches(b"another", &stored, "1234567890"), "the pepper is needed");
        assert_ne!(stored, registration_code_hash(b"pepper", "1234567890"), "salted: never the same twice");
        assert!(!stored.contains(&hex::encode(Sha256::digest(b"1234567890"))));
    }

    #[test]
    fn a_bare_sha256_of_an_older_event_still_matches() {
        let legacy = hex::encode(Sha256::digest(b"1234567890"));
        assert!(registration_code_matches(b"pepper", &legacy, "1234567890"));
        assert!(!registration_code_matches(b"pepper", &legacy, "0000000000"));
        assert!(!registration_code_matches(b"pepper", "garbage$x", "1234567890"));
    }
}
