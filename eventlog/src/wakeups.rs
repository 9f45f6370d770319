//! One `LISTEN` per log handle (and its clones), shared by every subscription: a LISTEN holds
//! a connection for its whole life, and a process runs a dozen subscriptions.
//!
//! The listener bumps a counter at each notification, and again each time it has listened
//! anew after losing its connection (notifications sent meanwhile are lost, so every
//! subscription must read again). A subscription takes the counter before it reads and waits
//! for it to move after a read that found nothing: a commit after the read notifies a listener
//! that was already listening, so the hand-over from reading to waiting has no gap.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, OnceCell};

use crate::{Result, NOTIFY_CHANNEL};

#[derive(Default)]
pub(crate) struct Wakeups {
    counter: OnceCell<watch::Receiver<u64>>,
}

impl Wakeups {
    /// The counter, once the shared listener is listening (started on first use).
    pub(crate) async fn subscribe(&self, pool: &PgPool) -> Result<watch::Receiver<u64>> {
        let rx = self
            .counter
            .get_or_try_init(|| async {
                let listener = listen(pool).await?;
                let (tx, rx) = watch::channel(0u64);
                tokio::spawn(relay(pool.clone(), listener, tx));
                Ok::<_, crate::EventLogError>(rx)
            })
            .await?;
        Ok(rx.clone())
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    Ok(listener)
}

/// Bumps the counter for every notification, until no subscription is left.
async fn relay(pool: PgPool, mut listener: PgListener, tx: watch::Sender<u64>) {
    loop {
        let received = tokio::select! {
            r = listener.try_recv() => r,
            _ = tx.closed() => return,
        };
        match received {
            Ok(Some(_)) => {
                while listener.next_buffered().is_some() {}
                tx.send_modify(|n| *n += 1);
            }
            // The connection dropped (`Ok(None)`) or failed: listen anew, then wake everyone,
            // since what was committed meanwhile was never announced.
            Ok(None) | Err(_) => loop {
                match listen(&pool).await {
                    Ok(fresh) => {
                        listener = fresh;
                        tx.send_modify(|n| *n += 1);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the log's listener cannot listen; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = tx.closed() => return,
                        }
                    }
                }
            },
        }
    }
}
