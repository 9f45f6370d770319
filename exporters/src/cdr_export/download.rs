//! A filtered set of CDRs as one CSV document, streamed page by page, so memory stays flat
//! however many CDRs match and no database connection waits on the client (`GET
//! /v1/Billing/Cdrs.csv`).

use bytes::Bytes;
use simledger_projections::cdrs::read::{push_filter, CdrFilter};
use sqlx::PgPool;
use tokio::sync::mpsc;

use sqlx::{FromRow, Row};

use super::record::{self, CdrRecord};
use super::{write_default_csv, ExportError, COLUMNS};

/// Bytes sent at a time.
const PIECE: usize = 64 << 10;
/// CDRs read per query.
const PAGE_ROWS: i64 = 2000;

/// The tenant's CDRs matching `filter`, in order-ID order, as CSV with a header row. The query
/// runs in a task of its own; it stops when the receiver is dropped (the client went away).
pub fn csv(pool: PgPool, tenant: String, filter: CdrFilter) -> mpsc::Receiver<Result<Bytes, ExportError>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(e) = produce(&pool, &tenant, &filter, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn produce(
    pool: &PgPool,
    tenant: &str,
    filter: &CdrFilter,
    tx: &mpsc::Sender<Result<Bytes, ExportError>>,
) -> Result<(), ExportError> {
    let csv_err = |e: csv::Error| ExportError::Invalid(format!("CSV: {e}"));
    let new_writer = || csv::Writer::from_writer(Vec::with_capacity(PIECE + (16 << 10)));
    let mut w = new_writer();
    w.write_record(COLUMNS).map_err(csv_err)?;
    // Read a page at a time by order ID, each a query of its own: the connection goes back to
    // the pool between pages, so a client that reads slowly holds none while it reads.
    let mut after = i64::MIN;
    loop {
        let mut q = sqlx::QueryBuilder::new(format!("SELECT {} FROM cdrs WHERE ", record::SELECT));
        push_filter(&mut q, tenant, filter);
        q.push(" AND order_id > ").push_bind(after).push(" ORDER BY order_id LIMIT ").push_bind(PAGE_ROWS);
        let rows = q.build().fetch_all(pool).await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("order_id")?;
        let full_page = rows.len() as i64 == PAGE_ROWS;
        for row in &rows {
            write_default_csv(&mut w, &CdrRecord::from_row(row)?).map_err(csv_err)?;
            if w.get_ref().len() >= PIECE {
                let full = std::mem::replace(&mut w, new_writer());
                let bytes = full.into_inner().map_err(|e| ExportError::Invalid(format!("CSV: {}", e.error())))?;
                if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                    return Ok(()); // nobody is reading any more
                }
            }
        }
        if !full_page {
            break;
        }
    }
    let rest = w.into_inner().map_err(|e| ExportError::Invalid(format!("CSV: {}", e.error())))?;
    let _ = tx.send(Ok(Bytes::from(rest))).await;
    Ok(())
}
