//! The request/reply loop every node runs: a queue-group subscription (so a node can run as
//! several replicas), one task per request, JSON in and out.

use std::future::Future;

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Subscribes `node`'s queue group to `subject`; done before a node is reported started.
pub async fn subscribe(
    client: &async_nats::Client,
    subject: String,
    node: &'static str,
) -> Result<async_nats::Subscriber, crate::CoreError> {
    client
        .queue_subscribe(subject.clone(), node.to_owned())
        .await
        .map_err(|e| crate::CoreError::JetStream(format!("subscribing {node} to {subject}: {e}")))
}

/// As [`serve`], holding at most `max_in_flight` requests at once: one beyond them is answered
/// `busy()` at once, so a flood of requests cannot pile up tasks without bound.
pub async fn serve_bounded<Req, Resp, F, Fut, B>(
    client: async_nats::Client,
    mut requests: async_nats::Subscriber,
    node: &'static str,
    max_in_flight: usize,
    busy: B,
    handler: F,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
    B: Fn() -> Resp + Send + Sync + 'static,
{
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let serving = async move {
        while let Some(msg) = requests.next().await {
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                metrics::counter!("simledger_node_busy_total", "node" => node).increment(1);
                if let Ok(body) = serde_json::to_vec(&busy()) {
                    let _ = client.publish(reply, body.into()).await;
                }
                continue;
            };
            let (client, handler) = (client.clone(), handler.clone());
            tokio::spawn(simledger_cputime::metered(node, async move {
                answer(&client, msg, reply, node, handler).await;
                drop(permit);
            }));
        }
    };
    simledger_cputime::metered(node, serving).await
}

/// Serves a subscription until it ends. A request that does not parse is answered with
/// `{"error": "..."}` and logged; it never stops the node.
pub async fn serve<Req, Resp, F, Fut>(
    client: async_nats::Client,
    requests: async_nats::Subscriber,
    node: &'static str,
    handler: F,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    // Never busy: a node without a bound takes every request.
    let busy = move || -> Resp { unreachable!("{node} has no bound on requests in flight") };
    serve_bounded(client, requests, node, tokio::sync::Semaphore::MAX_PERMITS, busy, handler).await
}

/// Handles one request and publishes the answer to `reply`.
async fn answer<Req, Resp, F, Fut>(
    client: &async_nats::Client,
    msg: async_nats::Message,
    reply: async_nats::Subject,
    node: &'static str,
    handler: F,
) where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: Fn(Req) -> Fut,
    Fut: Future<Output = Resp>,
{
    let body = match serde_json::from_slice::<Req>(&msg.payload) {
        Ok(req) => serde_json::to_vec(&handler(req).await),
        Err(e) => {
            tracing::warn!(node, subject = %msg.subject, error = %e, "malformed request refused");
            serde_json::to_vec(&serde_json::json!({ "error": e.to_string() }))
        }
    };
    if let Ok(body) = body {
        let _ = client.publish(reply, body.into()).await;
    }
}
