//! Event Streams commands: Sinks (where events go) and Subscriptions (which events), in
//! Twilio's Event Streams v1 rules. Delivery itself is the sink workers' (`simledger-exporters`).

use simledger_eventlog::catalog::{
    KinesisSink, SinkConfiguration, SinkCreated, SinkRef, SinkTest, SinkUpdated, SubscribedEventRemoved,
    SubscribedEventSet, SubscribedType, SubscriptionCreated, SubscriptionRef, SubscriptionUpdated, WebhookMethod,
    WebhookSink,
};
use simledger_eventlog::{stream_types, Event, ExpectedVersion};
use simledger_projections::event_streams::read;

use crate::{metadata, CommandError, CommandId, Commands, Result};

/// Bounds on what a customer may store: a description is a label, a URL is a URL.
const MAX_DESCRIPTION_CHARS: usize = 1024;
const MAX_URL_BYTES: usize = 2048;
const MAX_TYPES: usize = 64;
/// Sinks one account may have: each is a worker reading the log, so they are not free.
pub const MAX_SINKS_PER_ACCOUNT: i64 = 50;

/// `SinkType` and `SinkConfiguration` as given, checked and typed. `SinkConfiguration` is a JSON
/// object in a form field, as Twilio takes it; unknown keys are refused.
pub fn parse_sink_configuration(sink_type: &str, configuration: &str) -> Result<SinkConfiguration> {
    let value: serde_json::Value = serde_json::from_str(configuration)
        .map_err(|_| CommandError::invalid("SinkConfiguration", "must be a JSON object"))?;
    let serde_json::Value::Object(map) = value else {
        return Err(CommandError::invalid("SinkConfiguration", "must be a JSON object"));
    };
    let allowed: &[&str] = match sink_type {
        "webhook" => &["destination", "method", "batch_events"],
        "kinesis" => &["arn", "role_arn", "external_id"],
        "segment" | "email" => {
            return Err(CommandError::invalid(
                "SinkType",
                format!("{sink_type} sinks are not offered by this deployment; use webhook or kinesis"),
            ))
        }
        _ => return Err(CommandError::invalid("SinkType", "must be webhook or kinesis")),
    };
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(CommandError::invalid("SinkConfiguration", format!("unknown key {key:?} for a {sink_type} sink")));
    }
    let text = |key: &'static str| -> Result<Option<String>> {
        match map.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(CommandError::invalid("SinkConfiguration", format!("{key} must be a string"))),
        }
    };
    let required = |key: &'static str| -> Result<String> {
        text(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CommandError::invalid("SinkConfiguration", format!("{key} is required")))
    };
    match sink_type {
        "webhook" => {
            let destination = required("destination")?;
            if destination.len() > MAX_URL_BYTES {
                return Err(CommandError::invalid("SinkConfiguration", "destination is longer than 2048 bytes"));
            }
            let method = match text("method")?.as_deref().map(str::to_ascii_uppercase).as_deref() {
                None | Some("POST") => WebhookMethod::Post,
                Some("GET") => WebhookMethod::Get,
                Some(_) => return Err(CommandError::invalid("SinkConfiguration", "method must be POST or GET")),
            };
            let batch_events = match map.get("batch_events") {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::String(s)) if s == "true" || s == "false" => s == "true",
                Some(_) => return Err(CommandError::invalid("SinkConfiguration", "batch_events must be a boolean")),
            };
            Ok(SinkConfiguration::Webhook(WebhookSink { destination, method, batch_events }))
        }
        _ => {
            let arn = required("arn")?;
            parse_kinesis_arn(&arn)?;
            let role_arn = required("role_arn")?;
            if !is_role_arn(&role_arn) {
                return Err(CommandError::invalid(
                    "SinkConfiguration",
                    "role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                ));
            }
            let external_id = required("external_id")?;
            if external_id.len() > 1224 || !external_id.chars().all(|c| c.is_ascii_graphic()) {
                return Err(CommandError::invalid(
                    "SinkConfiguration",
                    "external_id must be 1 to 1224 printable characters",
                ));
            }
            Ok(SinkConfiguration::Kinesis(KinesisSink { arn, role_arn, external_id }))
        }
    }
}

/// A Kinesis stream ARN's region and stream name: `arn:aws:kinesis:<region>:<12 digits>:stream/<name>`.
/// The region becomes part of a host name, so it is held to AWS's region alphabet.
pub fn parse_kinesis_arn(arn: &str) -> Result<(&str, &str)> {
    let bad = || {
        CommandError::invalid(
            "SinkConfiguration",
            "arn must be a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)",
        )
    };
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("kinesis"), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let name = resource.strip_prefix("stream/").ok_or_else(bad)?;
    let region_ok = (1..=32).contains(&region.len())
        && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    let name_ok = (1..=128).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !partition.starts_with("aws") || !region_ok || !account_ok || !name_ok {
        return Err(bad());
    }
    Ok((region, name))
}

fn is_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else { return false };
    let Some((account, role)) = rest.split_once(':') else { return false };
    account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && role.strip_prefix("role/").is_some_and(|name| {
            (1..=512).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        })
}

fn check_description(description: &str) -> Result<()> {
    if description.trim().is_empty() {
        return Err(CommandError::Missing(vec!["Description"]));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(CommandError::invalid("Description", "must be at most 1024 characters"));
    }
    Ok(())
}

/// A type a subscription asks for, before its schema version is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRequest {
    pub event_type: String,
    /// The schema's default version when left out (see `Schema::default_version`).
    pub schema_version: Option<i32>,
}

/// Checks a requested type against the catalog and settles its schema version.
fn subscribed_type(t: &TypeRequest) -> Result<SubscribedType> {
    let known = stream_types::by_name(&t.event_type)
        .ok_or_else(|| CommandError::invalid("Types", format!("Type not found in system: {}", t.event_type)))?;
    let schema = stream_types::schema_of(known);
    let schema_version = match t.schema_version {
        None => schema.default_version(),
        Some(v) if schema.version(v).is_some() => v,
        Some(v) => {
            return Err(CommandError::invalid(
                "SchemaVersion",
                format!("{} has no schema version {v} (latest: {})", t.event_type, schema.latest().version),
            ))
        }
    };
    Ok(SubscribedType { event_type: known.name.to_owned(), schema_version })
}

impl Commands {
    /// Creates a sink (`POST /v1/Sinks`). Returns its `DG` SID.
    pub async fn create_sink(
        &self,
        cmd: CommandId,
        account_sid: &str,
        description: &str,
        configuration: SinkConfiguration,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SinkCreated(s) = done.event {
                return Ok(s.sink_sid);
            }
        }
        check_description(description)?;
        let sinks: i64 = sqlx::query_scalar("SELECT count(*) FROM es_sinks WHERE account_sid = $1")
            .bind(account_sid)
            .fetch_one(self.log.pool())
            .await?;
        if sinks >= MAX_SINKS_PER_ACCOUNT {
            return Err(CommandError::invalid(
                "SinkType",
                format!("an account has at most {MAX_SINKS_PER_ACCOUNT} sinks; delete one first"),
            ));
        }
        if let SinkConfiguration::Webhook(w) = &configuration {
            self.destinations
                .check(&w.destination)
                .await
                .map_err(|e| CommandError::invalid("SinkConfiguration", format!("destination {e}")))?;
        }
        let sink_sid = cmd.sid("DG");
        let event = Event::SinkCreated(SinkCreated {
            sink_sid: sink_sid.clone(),
            account_sid: account_sid.to_owned(),
            description: description.to_owned(),
            configuration,
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("sink-{sink_sid}"), ExpectedVersion::NoStream, vec![event], meta).await?;
        Ok(sink_sid)
    }

    async fn sink_row(&self, account_sid: &str, sink_sid: &str) -> Result<read::SinkRow> {
        read::sink(self.log.pool(), account_sid, sink_sid)
            .await?
            .ok_or_else(|| CommandError::NotFound { what: "Sink", id: sink_sid.to_owned() })
    }

    async fn subscription_row(&self, account_sid: &str, sid: &str) -> Result<read::SubscriptionRow> {
        read::subscription(self.log.pool(), account_sid, sid)
            .await?
            .ok_or_else(|| CommandError::NotFound { what: "Subscription", id: sid.to_owned() })
    }

    /// Changes a sink's description (`POST /v1/Sinks/{Sid}`), the one thing Twilio lets change.
    pub async fn update_sink(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sink_sid: &str,
        description: &str,
    ) -> Result<()> {
        self.deciding_again(&format!("sink/{account_sid}/{sink_sid}"), || {
            self.update_sink_once(cmd, account_sid, sink_sid, description)
        })
        .await
    }

    async fn update_sink_once(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sink_sid: &str,
        description: &str,
    ) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        check_description(description)?;
        let row = self.sink_row(account_sid, sink_sid).await?;
        let event = Event::SinkUpdated(SinkUpdated {
            sink_sid: row.sink_sid.clone(),
            account_sid: account_sid.to_owned(),
            description: description.to_owned(),
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("sink-{}", row.sink_sid), ExpectedVersion::Exact(row.version), vec![event], meta)
            .await?;
        Ok(())
    }

    /// Deletes a sink no subscription uses (`DELETE /v1/Sinks/{Sid}`).
    pub async fn delete_sink(&self, cmd: CommandId, account_sid: &str, sink_sid: &str) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        let row = self.sink_row(account_sid, sink_sid).await?;
        if row.in_use {
            return Err(CommandError::Conflict(format!(
                "Sink with SID {} is in use by a subscription; delete the subscription first",
                row.sink_sid
            )));
        }
        let event = Event::SinkDeleted(SinkRef { sink_sid: row.sink_sid.clone(), account_sid: account_sid.to_owned() });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("sink-{}", row.sink_sid), ExpectedVersion::Exact(row.version), vec![event], meta)
            .await?;
        Ok(())
    }

    /// Asks for a test event to be delivered to the sink (`POST /v1/Sinks/{Sid}/Test`); returns
    /// the test id the event carries.
    pub async fn test_sink(&self, cmd: CommandId, account_sid: &str, sink_sid: &str) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SinkTestRequested(t) = done.event {
                return Ok(t.test_id);
            }
        }
        let row = self.sink_row(account_sid, sink_sid).await?;
        let test_id = uuid::Uuid::new_v5(&cmd.as_uuid(), b"sink-test").to_string();
        let event = Event::SinkTestRequested(SinkTest {
            sink_sid: row.sink_sid.clone(),
            account_sid: account_sid.to_owned(),
            test_id: test_id.clone(),
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("sink-{}", row.sink_sid), ExpectedVersion::Exact(row.version), vec![event], meta)
            .await?;
        Ok(test_id)
    }

    /// Validates a sink with the id of the test event it received (`POST /v1/Sinks/{Sid}/Validate`).
    pub async fn validate_sink(&self, cmd: CommandId, account_sid: &str, sink_sid: &str, test_id: &str) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        let row = self.sink_row(account_sid, sink_sid).await?;
        if row.last_test_id.as_deref() != Some(test_id) {
            return Err(CommandError::invalid("TestId", "does not match the last test event sent to this sink"));
        }
        let event = Event::SinkValidated(SinkTest {
            sink_sid: row.sink_sid.clone(),
            account_sid: account_sid.to_owned(),
            test_id: test_id.to_owned(),
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("sink-{}", row.sink_sid), ExpectedVersion::Exact(row.version), vec![event], meta)
            .await?;
        Ok(())
    }

    /// Subscribes an active sink of the account to types (`POST /v1/Subscriptions`). Returns
    /// its `DF` SID. Events of those types appended after it are delivered to the sink.
    pub async fn create_subscription(
        &self,
        cmd: CommandId,
        account_sid: &str,
        description: &str,
        sink_sid: &str,
        types: &[TypeRequest],
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SubscriptionCreated(s) = done.event {
                return Ok(s.subscription_sid);
            }
        }
        check_description(description)?;
        if types.is_empty() {
            return Err(CommandError::Missing(vec!["Types"]));
        }
        if types.len() > MAX_TYPES {
            return Err(CommandError::invalid("Types", "at most 64 types per subscription"));
        }
        let types = types.iter().map(subscribed_type).collect::<Result<Vec<_>>>()?;
        let mut names: Vec<&str> = types.iter().map(|t| t.event_type.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(CommandError::invalid("Types", "a type is named more than once"));
        }
        let sink = read::sink(self.log.pool(), account_sid, sink_sid)
            .await?
            .ok_or_else(|| CommandError::invalid("SinkSid", format!("Sink {sink_sid} was not found")))?;
        if sink.status == "initialized" {
            return Err(CommandError::invalid(
                "SinkSid",
                format!(
                    "Sink {sink_sid} is not active: test it (POST /v1/Sinks/{sink_sid}/Test) and validate it first"
                ),
            ));
        }
        if sink.in_use {
            return Err(CommandError::Conflict(format!("Sink with SID {sink_sid} is in use")));
        }
        let subscription_sid = cmd.sid("DF");
        let event = Event::SubscriptionCreated(SubscriptionCreated {
            subscription_sid: subscription_sid.clone(),
            account_sid: account_sid.to_owned(),
            sink_sid: sink.sink_sid,
            description: description.to_owned(),
            types,
        });
        let meta = metadata(&cmd, Some(account_sid));
        self.commit(&cmd, format!("subscription-{subscription_sid}"), ExpectedVersion::NoStream, vec![event], meta)
            .await?;
        Ok(subscription_sid)
    }

    pub async fn update_subscription(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sid: &str,
        description: &str,
    ) -> Result<()> {
        self.deciding_again(&format!("subscription/{account_sid}/{sid}"), || {
            self.update_subscription_once(cmd, account_sid, sid, description)
        })
        .await
    }

    async fn update_subscription_once(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sid: &str,
        description: &str,
    ) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        check_description(description)?;
        let row = self.subscription_row(account_sid, sid).await?;
        let event = Event::SubscriptionUpdated(SubscriptionUpdated {
            subscription_sid: row.subscription_sid.clone(),
            account_sid: account_sid.to_owned(),
            description: description.to_owned(),
        });
        self.commit_subscription(&cmd, &row, event).await
    }

    pub async fn delete_subscription(&self, cmd: CommandId, account_sid: &str, sid: &str) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        let row = self.subscription_row(account_sid, sid).await?;
        let event = Event::SubscriptionDeleted(SubscriptionRef {
            subscription_sid: row.subscription_sid.clone(),
            account_sid: account_sid.to_owned(),
        });
        self.commit_subscription(&cmd, &row, event).await
    }

    /// Adds a type to a subscription (`must_be_new`) or changes the schema version of one it
    /// has (`SubscribedEvents` create and update).
    pub async fn set_subscribed_event(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sid: &str,
        request: &TypeRequest,
        must_be_new: bool,
    ) -> Result<SubscribedType> {
        let row = self.subscription_row(account_sid, sid).await?;
        let subscribed = subscribed_type(request)?;
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(subscribed);
        }
        let existing =
            read::subscribed_event(self.log.pool(), account_sid, &row.subscription_sid, &subscribed.event_type).await?;
        match (&existing, must_be_new) {
            (Some(_), true) => {
                return Err(CommandError::Conflict(format!(
                    "The subscription already has type {}",
                    subscribed.event_type
                )))
            }
            (None, false) => {
                return Err(CommandError::NotFound { what: "SubscribedEvent", id: request.event_type.clone() })
            }
            _ => {}
        }
        let event = Event::SubscribedEventSet(SubscribedEventSet {
            subscription_sid: row.subscription_sid.clone(),
            account_sid: account_sid.to_owned(),
            subscribed: subscribed.clone(),
        });
        self.commit_subscription(&cmd, &row, event).await?;
        Ok(subscribed)
    }

    pub async fn remove_subscribed_event(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sid: &str,
        event_type: &str,
    ) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        let row = self.subscription_row(account_sid, sid).await?;
        if read::subscribed_event(self.log.pool(), account_sid, &row.subscription_sid, event_type).await?.is_none() {
            return Err(CommandError::NotFound { what: "SubscribedEvent", id: event_type.to_owned() });
        }
        let event = Event::SubscribedEventRemoved(SubscribedEventRemoved {
            subscription_sid: row.subscription_sid.clone(),
            account_sid: account_sid.to_owned(),
            event_type: event_type.to_owned(),
        });
        self.commit_subscription(&cmd, &row, event).await
    }

    async fn commit_subscription(&self, cmd: &CommandId, row: &read::SubscriptionRow, event: Event) -> Result<()> {
        let meta = metadata(cmd, Some(&row.account_sid));
        let stream = format!("subscription-{}", row.subscription_sid);
        self.commit(cmd, stream, ExpectedVersion::Exact(row.version), vec![event], meta).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_configuration_is_typed_with_twilio_defaults() {
        let c = parse_sink_configuration("webhook", r#"{"destination":"https://example.com/hook"}"#).unwrap();
        assert_eq!(
            c,
            SinkConfiguration::Webhook(WebhookSink {
                destination: "https://example.com/hook".into(),
                method: WebhookMethod::Post,
                batch_events: false
            })
        );
        let c = parse_sink_configuration(
            "webhook",
            r#"{"destination":"https://example.com/h","method":"get","batch_events":true}"#,
        )
        .unwrap();
        assert!(matches!(
            c,
            SinkConfiguration::Webhook(WebhookSink { method: WebhookMethod::Get, batch_events: true, .. })
        ));
    }

    #[test]
    fn malformed_or_unknown_configurations_are_refused() {
        for (kind, config) in [
            ("webhook", "not json"),
            ("webhook", "[1,2]"),
            ("webhook", r#"{"destination":"https://example.com","secret":"x"}"#),
            ("webhook", r#"{"method":"POST"}"#),
            ("webhook", r#"{"destination":"https://example.com","batch_events":"maybe"}"#),
            ("webhook", r#"{"destination":"https://example.com","method":"PUT"}"#),
            (
                "kinesis",
                r#"{"arn":"arn:aws:kinesis:us-east-1:123456789012:stream/s","role_arn":"x","external_id":"e"}"#,
            ),
            (
                "kinesis",
                r#"{"arn":"arn:aws:kinesis:us-east-1.evil.com/:123456789012:stream/s","role_arn":"arn:aws:iam::123456789012:role/r","external_id":"e"}"#,
            ),
            (
                "kinesis",
                r#"{"arn":"arn:aws:s3:::bucket","role_arn":"arn:aws:iam::123456789012:role/r","external_id":"e"}"#,
            ),
            ("segment", r#"{"write_key":"k"}"#),
            ("email", "{}"),
            ("ftp", "{}"),
        ] {
            assert!(parse_sink_configuration(kind, config).is_err(), "{kind} {config} was accepted");
        }
    }

    #[test]
    fn a_kinesis_arn_gives_its_region_and_stream() {
        assert_eq!(
            parse_kinesis_arn("arn:aws:kinesis:eu-west-1:123456789012:stream/fleet-events").unwrap(),
            ("eu-west-1", "fleet-events")
        );
    }

    #[test]
    fn types_default_to_the_latest_schema_and_unknown_ones_are_refused() {
        let t = subscribed_type(&TypeRequest {
            event_type: "com.twilio.iot.supersim.connection.data-session.ended".into(),
            schema_version: None,
        })
        .unwrap();
        assert_eq!(t.schema_version, 2);
        let unknown = TypeRequest { event_type: "com.twilio.voice.call".into(), schema_version: None };
        assert!(subscribed_type(&unknown).is_err());
        let bad_version = TypeRequest {
            event_type: "com.twilio.iot.supersim.connection.data-session.ended".into(),
            schema_version: Some(7),
        };
        assert!(subscribed_type(&bad_version).is_err());
    }
}
