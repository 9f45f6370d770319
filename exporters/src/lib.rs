//! Getting data out of simledger, each path resumable from a cursor in the log:
//!
//! - CDR exporters: CSV files and S3 objects, each run exporting exactly the CDRs after the
//!   exporter's last exported order ID (an order ID is the log position that closed the CDR).
//! - Event-stream sinks: signed webhooks and Kinesis, CloudEvents 1.0, at least once, with a
//!   per-subscription cursor so a sink that was down gets everything it missed.
//!
//! - `cdr_export`: `*file_csv` exporters, one file per run named by its order-ID range.
//! - `callbacks`: customers' SMS Command callbacks (`CallbackUrl`, a fleet's `SmsCommandsUrl`).
//!
//! `simledger up` runs the `sinks` role (today: the callback notifier); the CDR exporters land
//! here with their capability.

pub mod callbacks;
pub mod cdr_export;
