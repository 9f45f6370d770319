//! Commands to devices: SMS Commands (delivered by the SMSC) and IP Commands.

use simledger_eventlog::catalog::{EsimProfileCreated, IpCommandCreated, SmsCommandCreated};
use simledger_eventlog::{Event, ExpectedVersion};

use crate::{metadata, stored_sid, CommandError, CommandId, Commands, Result, SIM};
use simledger_ids::Sim;

/// Twilio's limits: 160 characters of SMS text; 1,300 bytes of IP payload.
pub const SMS_PAYLOAD_MAX_CHARS: usize = 160;
pub const IP_PAYLOAD_MAX_BYTES: usize = 1300;

#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub url: Option<String>,
    pub method: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewIpCommand {
    /// SID or unique name.
    pub sim: String,
    pub payload: String,
    pub device_port: i32,
    /// `text` (default) or `binary`.
    pub payload_type: Option<String>,
    pub callback: Callback,
}

impl Commands {
    /// A URL simledger will call for the customer (a callback, a fleet's command URLs, an
    /// `*http_post`): held to the deployment's destination policy (`simledger-outbound`), so it
    /// cannot point at the deployment's own network.
    pub(crate) async fn check_url(&self, param: &'static str, url: Option<&str>) -> Result<()> {
        match url {
            Some(u) => match self.destinations.check(u).await {
                Ok(_) => Ok(()),
                Err(e) => Err(CommandError::invalid(param, e.to_string())),
            },
            None => Ok(()),
        }
    }

    pub(crate) async fn check_callback(&self, callback: &Callback) -> Result<()> {
        self.check_url("CallbackUrl", callback.url.as_deref()).await?;
        if let Some(m) = &callback.method {
            if m != "GET" && m != "POST" {
                return Err(CommandError::invalid("CallbackMethod", "must be GET or POST"));
            }
        }
        Ok(())
    }
}

impl Commands {
    /// Queues an SMS to a SIM (`POST /v1/SmsCommands`). Returns its `HC` SID.
    pub async fn create_sms_command(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sim: &str,
        payload: &str,
        callback: Callback,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SmsCommandCreated(c) = done.event {
                return Ok(c.sms_command_sid);
            }
        }
        if payload.is_empty() || payload.chars().count() > SMS_PAYLOAD_MAX_CHARS {
            return Err(CommandError::invalid("Payload", "must be 1 to 160 characters"));
        }
        self.check_callback(&callback).await?;
        let sim_sid = stored_sid::<Sim>(&self.lookup(&SIM, account_sid, sim).await?.0)?;
        let imsi: Option<String> = sqlx::query_scalar(
            "SELECT imsi FROM registry_sim_imsis WHERE sim_sid = $1 AND allowed ORDER BY imsi LIMIT 1",
        )
        .bind(&sim_sid)
        .fetch_optional(self.log.pool())
        .await?;
        let imsi = imsi.ok_or_else(|| CommandError::invalid("Sim", "the SIM has no IMSI that may be addressed"))?;
        let sid = cmd.sid("HC");
        let event = Event::SmsCommandCreated(SmsCommandCreated {
            sms_command_sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            sim_sid,
            imsi,
            payload: payload.to_owned(),
            callback_url: callback.url,
            callback_method: callback.method,
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("sms-{sid}"), ExpectedVersion::NoStream, vec![event], meta).await?;
        Ok(sid)
    }

    /// Queues a UDP datagram to a SIM's device (`POST /v1/IpCommands`). Returns its `HG` SID.
    pub async fn create_ip_command(&self, cmd: CommandId, account_sid: &str, new: NewIpCommand) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::IpCommandCreated(c) = done.event {
                return Ok(c.ip_command_sid);
            }
        }
        let payload_type = new.payload_type.unwrap_or_else(|| "text".into());
        let bytes = match payload_type.as_str() {
            "text" => new.payload.len(),
            "binary" => decode_base64_len(&new.payload)
                .ok_or_else(|| CommandError::invalid("Payload", "a binary payload must be base64"))?,
            _ => return Err(CommandError::invalid("PayloadType", "must be text or binary")),
        };
        if bytes == 0 || bytes > IP_PAYLOAD_MAX_BYTES {
            return Err(CommandError::invalid("Payload", "must be 1 to 1300 bytes"));
        }
        if !(1..=65535).contains(&new.device_port) {
            return Err(CommandError::invalid("DevicePort", "must be a port number, 1 to 65535"));
        }
        self.check_callback(&new.callback).await?;
        let sim_sid = stored_sid::<Sim>(&self.lookup(&SIM, account_sid, &new.sim).await?.0)?;
        let iccid: String = sqlx::query_scalar("SELECT iccid FROM registry_sims WHERE sim_sid = $1")
            .bind(&sim_sid)
            .fetch_one(self.log.pool())
            .await?;
        let sid = cmd.sid("HG");
        let event = Event::IpCommandCreated(IpCommandCreated {
            ip_command_sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            sim_sid,
            sim_iccid: iccid,
            device_port: new.device_port,
            payload_type,
            payload: new.payload,
            callback_url: new.callback.url,
            callback_method: new.callback.method,
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("ipc-{sid}"), ExpectedVersion::NoStream, vec![event], meta).await?;
        Ok(sid)
    }
}

pub use simledger_eventlog::catalog::SMDP_PLUS_ADDRESS;

/// eSIM profiles an account may have waiting for a device (`available`) at once.
pub const MAX_AVAILABLE_ESIM_PROFILES: i64 = 10_000;

impl Commands {
    /// Reserves an eSIM profile (`POST /v1/ESimProfiles`). With an `Eid`, the profile is bound
    /// to that eUICC and needs no matching ID unless asked; without one, a matching ID is always
    /// generated (the device must present it). Returns its `HP` SID.
    pub async fn create_esim_profile(
        &self,
        cmd: CommandId,
        account_sid: &str,
        eid: Option<String>,
        generate_matching_id: bool,
        callback: Callback,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::EsimProfileCreated(p) = done.event {
                return Ok(p.esim_profile_sid);
            }
        }
        if let Some(eid) = &eid {
            if eid.len() != 32 || !eid.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CommandError::invalid("Eid", "an EID is 32 digits"));
            }
        }
        self.check_callback(&callback).await?;
        // Reservations are held in every SM-DP+'s memory: an account keeps a bounded number
        // waiting for a device.
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM device_esim_profiles WHERE account_sid = $1 AND status = 'available'",
        )
        .bind(account_sid)
        .fetch_one(self.log.pool())
        .await?;
        if waiting >= MAX_AVAILABLE_ESIM_PROFILES {
            return Err(CommandError::Conflict(format!(
                "the account already has {MAX_AVAILABLE_ESIM_PROFILES} eSIM profiles waiting for a device"
            )));
        }
        let sid = cmd.sid("HP");
        // A 19-digit ICCID under simledger's issuer prefix, from the command: stable on retry.
        let digits: String = cmd.as_uuid().as_u128().to_string().chars().rev().take(12).collect();
        let iccid = format!("8988307{digits:0>12}");
        let matching_id = (generate_matching_id || eid.is_none()).then(|| cmd.sid("MI")[2..22].to_uppercase());
        let profile = EsimProfileCreated {
            esim_profile_sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            iccid,
            eid,
            status: "available".into(),
            smdp_plus_address: SMDP_PLUS_ADDRESS.into(),
            activation_code: format!("LPA:1${SMDP_PLUS_ADDRESS}${}", matching_id.as_deref().unwrap_or("")),
            matching_id,
            callback_url: callback.url,
            callback_method: callback.method,
        };
        // The SIM the profile becomes must not share its ICCID or IMSI with a card in inventory
        // or another reservation (its IMSI is the ICCID's last ten digits).
        let taken: Option<String> = sqlx::query_scalar(
            "SELECT iccid FROM registry_sims WHERE iccid = $1 \
             UNION ALL SELECT imsi FROM registry_sim_imsis WHERE imsi = ANY($2) \
             UNION ALL SELECT iccid FROM device_esim_profiles WHERE right(iccid, 10) = right($1, 10) LIMIT 1",
        )
        .bind(&profile.iccid)
        .bind(profile.imsis())
        .fetch_optional(self.log.pool())
        .await?;
        if let Some(taken) = taken {
            return Err(CommandError::Conflict(format!("{taken} is already a SIM's; try again with another request")));
        }
        let event = Event::EsimProfileCreated(profile);
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("esim-{sid}"), ExpectedVersion::NoStream, vec![event], meta).await?;
        Ok(sid)
    }
}

/// The decoded length of standard base64, or `None` if it is not base64.
fn decode_base64_len(s: &str) -> Option<usize> {
    let body = s.trim_end_matches('=');
    let valid = s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    valid.then(|| body.len() * 3 / 4)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_lengths() {
        assert_eq!(super::decode_base64_len("aGVsbG8="), Some(5));
        assert_eq!(super::decode_base64_len("aGVsbG8h"), Some(6));
        assert_eq!(super::decode_base64_len("not base64!"), None);
        assert_eq!(super::decode_base64_len("abc"), None);
    }
}
