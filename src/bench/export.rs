//! `simledger bench export`: a `*file_csv` export of N CDRs and the CSV download of them
//! (read in pages, no connection held between), each against PostgreSQL's own
//! `COPY (SELECT …) TO STDOUT WITH CSV` of the same rows in the same run; and the process's
//! peak resident memory, which must not grow with N (the export streams).

use std::time::Instant;

use clap::Args;
use futures_util::TryStreamExt;
use simledger_eventlog::{checkpoint, EventLog};

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// CDRs to export.
    #[arg(long, default_value_t = 1_000_000)]
    cdrs: i64,
    /// Also export to this S3 location (`s3://bucket/prefix`; endpoint and credentials from the
    /// `AWS_*` variables, e.g. a local moto or s3rver).
    #[arg(long)]
    s3: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

const TENANT: &str = "AC00000000000000000000000000000e00";

pub async fn run(config: &Config, args: ExportArgs) -> anyhow::Result<()> {
    let (db, pool) = BenchDatabase::create(config, "export").await?;
    eprintln!("loading {} CDRs…", args.cdrs);
    simledger_projections::cdrs::bulk_load(&pool, TENANT, args.cdrs).await?;
    sqlx::query("ANALYZE cdrs").execute(&pool).await?;
    // The rows stand for what the projection built up to position N.
    let shard = EventLog::new(pool.clone()).shard();
    let mut tx = pool.begin().await?;
    checkpoint::advance(&mut tx, simledger_projections::cdrs::NAME, shard, 0, args.cdrs).await?;
    tx.commit().await?;

    eprintln!("reference: COPY TO STDOUT…");
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    // COPY takes no bind parameters; TENANT is a constant of this file.
    let mut copy = conn
        .copy_out_raw(&format!(
            "COPY (SELECT cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, category, \
             account, subject, destination, setup_time, answer_time, usage, cost, extra_fields, extra_info FROM cdrs \
             WHERE tenant = '{TENANT}' ORDER BY order_id) TO STDOUT WITH CSV HEADER"
        ))
        .await?;
    let mut copied = 0usize;
    while let Some(chunk) = copy.try_next().await? {
        copied += chunk.len();
    }
    drop(copy);
    drop(conn);
    let copy_rate = args.cdrs as f64 / started.elapsed().as_secs_f64();

    eprintln!("download as CSV (GET /v1/Billing/Cdrs.csv's producer, paged)…");
    let started = Instant::now();
    let mut pieces = simledger_exporters::cdr_export::download::csv(
        pool.clone(),
        TENANT.to_owned(),
        simledger_projections::cdrs::read::CdrFilter::default(),
    );
    let mut downloaded = 0usize;
    while let Some(piece) = pieces.recv().await {
        downloaded += piece?.len();
    }
    let download_rate = args.cdrs as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(downloaded > 0, "the download produced nothing");

    eprintln!("export to a CSV file…");
    let dir = std::env::temp_dir().join(format!("simledger-bench-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let exporter = simledger_exporters::cdr_export::Exporter::new(
        "bench",
        simledger_exporters::cdr_export::ExporterKind::FileCsv,
        dir.display().to_string(),
    );
    simledger_exporters::cdr_export::create(&simledger_eventlog::EventLog::new(pool.clone()), TENANT, &exporter)
        .await?;
    let started = Instant::now();
    let report = simledger_exporters::cdr_export::run(&pool, shard, TENANT, "bench").await?;
    let export_rate = report.events as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(report.events == args.cdrs, "exported {} of {} CDRs", report.events, args.cdrs);
    let file_bytes = std::fs::metadata(report.file_paths.first().map(String::as_str).unwrap_or_default())
        .map(|m| m.len())
        .unwrap_or(0);
    std::fs::remove_dir_all(&dir)?;

    let s3_rate = match &args.s3 {
        Some(location) => {
            eprintln!("export to {location}…");
            let s3 = simledger_exporters::cdr_export::Exporter {
                id: "bench-s3".into(),
                kind: simledger_exporters::cdr_export::ExporterKind::S3Csv,
                export_path: location.clone(),
                ..exporter
            };
            simledger_exporters::cdr_export::create(&simledger_eventlog::EventLog::new(pool.clone()), TENANT, &s3)
                .await?;
            let started = Instant::now();
            let report = simledger_exporters::cdr_export::run(&pool, shard, TENANT, "bench-s3").await?;
            anyhow::ensure!(report.events == args.cdrs, "exported {} of {} CDRs to S3", report.events, args.cdrs);
            Some(report.events as f64 / started.elapsed().as_secs_f64())
        }
        None => None,
    };
    pool.close().await;
    db.drop_database().await?;

    let mut figures = vec![
        Figure::plain("cdrs", args.cdrs as f64, "CDRs"),
        Figure::against("export_csv", export_rate, "CDRs/s", "COPY TO STDOUT CSV, same rows", copy_rate),
        Figure::against("download_csv", download_rate, "CDRs/s", "COPY TO STDOUT CSV, same rows", copy_rate),
        Figure::plain("csv_bytes_per_cdr", file_bytes as f64 / args.cdrs as f64, "bytes"),
        Figure::plain("copy_bytes_per_cdr", copied as f64 / args.cdrs as f64, "bytes"),
    ];
    if let Some(rate) = s3_rate {
        figures.push(Figure::against("export_s3", rate, "CDRs/s", "COPY TO STDOUT CSV, same rows", copy_rate));
    }
    figures.push(Figure::plain("peak_rss_mb", peak_rss_mb(), "MB"));
    print(&figures, args.json);
    Ok(())
}

/// The process's peak resident set (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
