//! The Prometheus `/metrics` endpoint (`[http] listen` in the config, or `--http-listen`).
//!
//! Each scrape takes a status snapshot ([`super::status`]) and renders it with
//! `prometheus-client` in the OpenMetrics text format, so the endpoint and `status.json` report
//! the same numbers. HTTP/1 with hyper; at most [`HTTP_CONNECTIONS_MAX`] connections are served
//! at once (more are closed on accept) and each lives at most [`HTTP_CONNECTION_TIMEOUT`]. Bind
//! it to loopback or a management network: it needs no authentication because it shows counts
//! only, never patient data.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Node;
use super::status::Snapshot;

/// Scrapers are one or two Prometheus servers and an operator's curl.
pub const HTTP_CONNECTIONS_MAX: usize = 4;
/// A scrape takes milliseconds; a connection idling longer is dropped.
pub const HTTP_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

/// Renders a snapshot as OpenMetrics text. Counter names get `_total` from the encoder.
pub fn render(s: &Snapshot) -> String {
    let mut r = Registry::with_prefix("kizuna");
    let items = Family::<ClassLabel, Gauge>::default();
    for (class, n) in s.items.labelled() {
        items
            .get_or_create(&ClassLabel { class })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    r.register("items", "Items in the store by class", items);
    gauge(
        &mut r,
        "quarantined_files",
        "Items held in quarantine (failed check on import)",
        s.items.quarantined,
    );
    gauge(
        &mut r,
        "peers_connected",
        "Admitted members with an open connection",
        s.peers_connected,
    );
    gauge(
        &mut r,
        "syncs_in_progress",
        "Syncs (transfers) running now",
        s.syncs_in_progress,
    );
    gauge(
        &mut r,
        "partial_items",
        "Interrupted item transfers kept for resumption",
        s.partial_items,
    );
    gauge(
        &mut r,
        "partial_bytes",
        "Bytes of interrupted item transfers kept",
        s.partial_bytes,
    );
    let c = &s.counters;
    let syncs = Family::<OutcomeLabel, Counter>::default();
    for (outcome, n) in [
        ("ok", c.syncs_ok),
        ("failed", c.syncs_failed),
        ("timed_out", c.syncs_timed_out),
    ] {
        syncs.get_or_create(&OutcomeLabel { outcome }).inc_by(n);
    }
    r.register("syncs", "Finished syncs by outcome", syncs);
    counter(&mut r, "items_sent", "Items sent to peers", c.items_sent);
    counter(
        &mut r,
        "items_received",
        "Items received and newly stored",
        c.items_received,
    );
    counter(
        &mut r,
        "item_bytes_sent",
        "Item bytes sent",
        c.item_bytes_sent,
    );
    counter(
        &mut r,
        "item_bytes_received",
        "Item bytes received and stored",
        c.item_bytes_received,
    );
    counter(
        &mut r,
        "items_rejected",
        "Items refused on either side of a sync",
        c.items_rejected,
    );
    counter(&mut r, "chunks_sent", "Item chunks sent", c.chunks_sent);
    counter(
        &mut r,
        "chunks_received",
        "Item chunks received",
        c.chunks_received,
    );
    counter(
        &mut r,
        "bytes_resumed",
        "Bytes of resumed items not sent again",
        c.bytes_resumed,
    );
    counter(
        &mut r,
        "handshakes_refused",
        "Membership handshakes that failed",
        c.handshakes_refused,
    );
    counter(
        &mut r,
        "hostile_disconnects",
        "Peers disconnected for breaking the protocol",
        c.hostile_disconnects,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &r);
    out
}

fn respond(node: &Node, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if req.method() != hyper::Method::GET {
        (StatusCode::METHOD_NOT_ALLOWED, "text/plain", String::new())
    } else if req.uri().path() == "/metrics" {
        let text = render(&node.ops.snapshot(node));
        (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        )
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Binds the endpoint and logs `http listening` with the bound `addr` (port 0 picks one).
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics endpoint on {addr}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "http listening");
    Ok(listener)
}

/// Serves `/metrics` until the process ends.
pub async fn serve(listener: TcpListener, node: Node) {
    let slots = Arc::new(Semaphore::new(HTTP_CONNECTIONS_MAX));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!("metrics connection limit reached; closing");
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let response = respond(&node, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(HTTP_CONNECTION_TIMEOUT, conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::{ClassCounts, Counters};

    #[test]
    fn renders_every_metric_with_its_value() {
        let s = Snapshot {
            version: 1,
            pid: 1,
            started_unix: 0,
            written_unix: 0,
            peer_id: String::new(),
            facility: String::new(),
            role: String::new(),
            items: ClassCounts {
                emergency: 3,
                routine: 4,
                other: 0,
                quarantined: 2,
            },
            peers_connected: 1,
            syncs_in_progress: 0,
            partial_items: 0,
            partial_bytes: 0,
            peers: Vec::new(),
            counters: Counters {
                syncs_ok: 5,
                syncs_timed_out: 1,
                items_received: 7,
                ..Counters::default()
            },
        };
        let text = render(&s);
        for line in [
            "kizuna_items{class=\"emergency\"} 3",
            "kizuna_items{class=\"quarantined\"} 2",
            "kizuna_quarantined_files 2",
            "kizuna_peers_connected 1",
            "kizuna_syncs_total{outcome=\"ok\"} 5",
            "kizuna_syncs_total{outcome=\"timed_out\"} 1",
            "kizuna_syncs_total{outcome=\"failed\"} 0",
            "kizuna_items_received_total 7",
            "kizuna_chunks_sent_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
    }
}
