//! Getting data out of simledger, each path resumable from a cursor in the log:
//!
//! - CDR exporters: CSV files and S3 objects, each run exporting exactly the CDRs after the
//!   exporter's last exported order ID (an order ID is the log position that closed the CDR).
//! - Pushes to customers' URLs, each a checkpointed log subscriber (at least once):
//!
//! - `cdr_export`: `*file_csv` exporters, one file per run named by its order-ID range.
//! - `callbacks`: customers' SMS Command callbacks (`CallbackUrl`, a fleet's `SmsCommandsUrl`).
//! - `billing_posts`: billing's `*http_post` actions, signed, retried.
//!
//! `simledger up` runs the `sinks` role (today: the callback notifier and the billing poster).

pub mod billing_posts;
pub mod callbacks;
pub mod cdr_export;
