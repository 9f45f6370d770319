//! A device's LPA (Local Profile Assistant), simulated: given an activation code, it downloads
//! the profile from the SM-DP+ the code names and reports what became of its installation.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use simledger_eventlog::catalog::SMDP_PLUS_ADDRESS;

use crate::protocol::{
    subjects, DownloadAnswer, DownloadRequest, Es9Refusal, InstallNotification, InstallResult, NotifyAnswer,
    ProfilePackage,
};
use crate::CoreNames;

/// An SGP.22 activation code: `LPA:1$<SM-DP+ address>$<matching ID>[$…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationCode {
    pub smdp_address: String,
    pub matching_id: Option<String>,
}

impl FromStr for ActivationCode {
    type Err = LpaError;

    fn from_str(text: &str) -> Result<Self, LpaError> {
        let bad = || LpaError::ActivationCode(text.chars().take(64).collect());
        let body = text.strip_prefix("LPA:").ok_or_else(bad)?;
        let mut parts = body.split('$');
        if parts.next() != Some("1") {
            return Err(bad());
        }
        let smdp_address = parts.next().filter(|a| !a.is_empty()).ok_or_else(bad)?.to_owned();
        let matching_id = parts.next().filter(|m| !m.is_empty()).map(str::to_owned);
        Ok(Self { smdp_address, matching_id })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LpaError {
    #[error("not an activation code: {0:?}")]
    ActivationCode(String),
    #[error("{0} is not an SM-DP+ this device can reach")]
    UnknownSmdp(String),
    #[error("the SM-DP+ refused: {} ({}/{})", .0.message, .0.subject_code, .0.reason_code)]
    Refused(Es9Refusal),
    #[error("the SM-DP+ did not answer: {0}")]
    NoAnswer(String),
}

/// One eUICC's LPA.
pub struct Lpa {
    client: async_nats::Client,
    names: CoreNames,
    pub eid: String,
}

impl Lpa {
    pub fn new(client: async_nats::Client, names: CoreNames, eid: impl Into<String>) -> Self {
        Self { client, names, eid: eid.into() }
    }

    /// Asks the SM-DP+, repeating the same request (so the same `at`) when no answer comes:
    /// the node logs a repeated request once.
    async fn ask<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        subject: &str,
        req: &Q,
    ) -> Result<A, LpaError> {
        let body: bytes::Bytes = serde_json::to_vec(req).expect("requests serialize").into();
        let mut last = String::new();
        for _ in 0..3 {
            let reply = self.client.request(self.names.request(subject), body.clone());
            match tokio::time::timeout(Duration::from_secs(10), reply).await {
                Ok(Ok(msg)) => {
                    return serde_json::from_slice(&msg.payload).map_err(|e| LpaError::NoAnswer(e.to_string()))
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer within 10 s".into(),
            }
        }
        Err(LpaError::NoAnswer(last))
    }

    /// Downloads the profile `code` names (or, without one, the profile reserved for this EID)
    /// and installs it with `result`, reporting each to the SM-DP+. Returns the package.
    pub async fn download_and_install(
        &self,
        code: Option<&ActivationCode>,
        result: InstallResult,
        at: DateTime<Utc>,
    ) -> Result<ProfilePackage, LpaError> {
        if let Some(code) = code {
            if code.smdp_address != SMDP_PLUS_ADDRESS {
                return Err(LpaError::UnknownSmdp(code.smdp_address.clone()));
            }
        }
        let req = DownloadRequest { eid: self.eid.clone(), matching_id: code.and_then(|c| c.matching_id.clone()), at };
        let answer: DownloadAnswer = self.ask(subjects::ES9_DOWNLOAD, &req).await?;
        let package = match (answer.package, answer.refusal) {
            (Some(p), _) => p,
            (None, Some(r)) => return Err(LpaError::Refused(r)),
            (None, None) => return Err(LpaError::NoAnswer("an answer with neither package nor refusal".into())),
        };
        // Installing takes the eUICC a moment; the report carries when it ended.
        let note = InstallNotification {
            eid: self.eid.clone(),
            iccid: package.iccid.clone(),
            result,
            at: at + chrono::Duration::seconds(2),
        };
        let answer: NotifyAnswer = self.ask(subjects::ES9_NOTIFY, &note).await?;
        match answer.refusal {
            Some(r) if !answer.acknowledged => Err(LpaError::Refused(r)),
            _ => Ok(package),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_codes_parse_as_sgp22_writes_them() {
        let code: ActivationCode = "LPA:1$rsp.simledger.local$ABC123".parse().unwrap();
        assert_eq!(code.smdp_address, "rsp.simledger.local");
        assert_eq!(code.matching_id.as_deref(), Some("ABC123"));
        let code: ActivationCode = "LPA:1$rsp.simledger.local$".parse().unwrap();
        assert_eq!(code.matching_id, None);
        for bad in ["", "LPA:", "LPA:2$a$b", "LPA:1$$x", "1$rsp.simledger.local$X"] {
            assert!(bad.parse::<ActivationCode>().is_err(), "{bad:?}");
        }
    }
}
