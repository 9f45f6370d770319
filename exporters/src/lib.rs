//! Getting data out of simledger, each path resumable from a cursor in the log:
//!
//! - CDR exporters: CSV files and S3 objects, each run exporting exactly the CDRs after the
//!   exporter's last exported order ID (an order ID is the log position that closed the CDR).
//! - Pushes to customers' URLs, each a checkpointed log subscriber (at least once):
//!
//! - `cdr_export`: `*file_csv` exporters, one file per run named by its order-ID range.
//! - `callbacks`: customers' SMS Command callbacks (`CallbackUrl`, a fleet's `SmsCommandsUrl`).
//! - `billing_posts`: billing's `*http_post` actions, signed, retried.
//! - `account_exports`: billing's `*export` actions, one document per exporter it names.
//!
//! `simledger up` runs the `sinks` role (the callback notifier, the billing poster and the
//! account exporter).

pub mod account_exports;
pub mod billing_posts;
pub mod callbacks;
pub mod cdr_export;
