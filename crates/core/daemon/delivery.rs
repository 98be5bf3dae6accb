//! Alerts out: one worker per sink drains that sink's part of the outbox, in
//! order. A slow or failing receiver holds up only its own worker; the pipeline
//! never waits for any of them.
//!
//! Webhooks (contract section 5): the stored event bytes as the body, an
//! `Idempotency-Key`, an HMAC-SHA256 signature when a secret is configured. 2xx is
//! delivered; 408, 429, 5xx, timeouts and connection errors are retried with
//! exponential backoff and full jitter (a `Retry-After` is honoured); any other
//! status is given up, kept in the store's failed table and counted.
//!
//! Alertmanager: the same events as Alertmanager v2 alerts, labelled with the rule,
//! severity and area; firing alerts are re-sent every `resend_interval` so that
//! Alertmanager does not time them out, resolved ones carry `endsAt`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use onrust_signal::engine::{AlertEvent, AlertStatus};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::json;
use sha2::Sha256;

use super::live::Live;
use super::store::Delivery;

/// How a sink receives alerts.
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// A webhook; the HMAC secret, when configured.
    Webhook {
        /// The HMAC-SHA256 key.
        secret: Option<Vec<u8>>,
    },
    /// A Prometheus Alertmanager (v2 API at `url`).
    Alertmanager,
}

/// One receiver of alert events.
#[derive(Debug, Clone)]
pub struct Sink {
    /// Its name in metrics: `webhook-<n>` or `alertmanager`.
    pub name: String,
    /// Its part of the outbox (see [`crate::daemon::store::Store::receiver_ids`]).
    pub outbox: u32,
    /// Where to post.
    pub url: String,
    /// What it is.
    pub kind: SinkKind,
    /// How long one request may take.
    pub timeout: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

/// What became of one attempt.
#[derive(Debug, PartialEq)]
enum Outcome {
    Delivered,
    /// Try again, not before this long (a `Retry-After`, if the receiver gave one).
    Retry(Option<Duration>, String),
    GiveUp(String),
}

/// The first wait between attempts; each failure doubles it up to the maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The wait before attempt `attempts + 1`: uniform in `[0, min(max, first·2^attempts)]`
/// ("full jitter"), and never shorter than a `Retry-After`.
fn backoff(attempts: u32, max: Duration, retry_after: Option<Duration>, unit: f64) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << attempts.min(20))
        .min(max);
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    match retry_after {
        Some(after) => jittered.max(after.min(Duration::from_secs(3600))),
        None => jittered,
    }
}

impl Sink {
    /// Who it is, for its place in the outbox: its kind and its address.
    pub fn receiver(&self) -> String {
        let kind = match self.kind {
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Alertmanager => "alertmanager",
        };
        super::store::receiver_key(kind, &self.url)
    }
}

/// Runs `sink`'s worker until the daemon stops.
pub async fn run(sink: Sink, live: Arc<Live>) {
    let client = match reqwest::Client::builder().timeout(sink.timeout).build() {
        Ok(client) => client,
        Err(error) => {
            eprintln!(
                "onrust: {}: cannot build an HTTP client: {error}",
                sink.name
            );
            return;
        }
    };
    let mut writes = live.outbox.subscribe();
    if let SinkKind::Alertmanager = sink.kind {
        tokio::spawn(resend_firing(
            client.clone(),
            sink.clone(),
            Arc::clone(&live),
        ));
    }
    while !live.stopping() {
        let wait = match drain(&sink, &client, &live).await {
            Ok(wait) => wait,
            Err(error) => {
                eprintln!("onrust: {}: outbox: {error:#}", sink.name);
                Some(Duration::from_secs(1))
            }
        };
        if let Ok(pending) = live.store.pending_count() {
            live.metrics.outbox_pending.set(pending as i64);
        }
        let wait = wait.unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = writes.changed() => {}
            () = tokio::time::sleep(wait) => {}
            () = live.stopped() => {}
        }
    }
}

/// Sends what is due, in order; returns how long until the next entry is due
/// (`None`: the outbox is empty for this sink).
async fn drain(sink: &Sink, client: &reqwest::Client, live: &Live) -> Result<Option<Duration>> {
    loop {
        let batch = live.store.pending(sink.outbox, 32)?;
        if batch.is_empty() {
            return Ok(None);
        }
        for (sequence, mut delivery) in batch {
            let now = chrono::Utc::now().timestamp_millis();
            if delivery.not_before_ms > now {
                return Ok(Some(Duration::from_millis(
                    (delivery.not_before_ms - now) as u64,
                )));
            }
            if live.stopping() {
                return Ok(None);
            }
            let outcome = attempt(sink, client, &delivery).await;
            let counter = |outcome: &str| {
                live.metrics
                    .deliveries
                    .with_label_values(&[sink.name.as_str(), outcome])
                    .inc();
            };
            match outcome {
                Outcome::Delivered => {
                    counter("delivered");
                    live.store.delivered(sink.outbox, sequence)?;
                    if let Some(took) = live.sink_done(&delivery.key) {
                        live.metrics
                            .alert_delivery
                            .with_label_values(&[sink.name.as_str()])
                            .observe(took.as_secs_f64());
                    }
                }
                Outcome::Retry(after, why) => {
                    counter("retried");
                    let wait = backoff(delivery.attempts, sink.max_backoff, after, fastrand::f64());
                    delivery.attempts += 1;
                    delivery.not_before_ms = now + wait.as_millis() as i64;
                    delivery.error = Some(why);
                    live.store.retry_later(sink.outbox, sequence, &delivery)?;
                    return Ok(Some(wait));
                }
                Outcome::GiveUp(why) => {
                    counter("failed");
                    live.sink_done(&delivery.key);
                    eprintln!(
                        "onrust: {}: gave up delivering {}: {why}",
                        sink.name, delivery.key
                    );
                    delivery.error = Some(why);
                    delivery.given_up_ms = Some(now);
                    live.store.give_up(sink.outbox, sequence, &delivery)?;
                }
            }
        }
    }
}

async fn attempt(sink: &Sink, client: &reqwest::Client, delivery: &Delivery) -> Outcome {
    let request = match &sink.kind {
        SinkKind::Webhook { secret } => {
            let mut request = client
                .post(&sink.url)
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", &delivery.key)
                .body(delivery.body.clone());
            if let Some(secret) = secret {
                request = request.header("X-Onrust-Signature", signature(secret, &delivery.body));
            }
            request
        }
        SinkKind::Alertmanager => {
            let event: AlertEvent = match serde_json::from_str(&delivery.body) {
                Ok(event) => event,
                Err(error) => return Outcome::GiveUp(format!("unreadable stored event: {error}")),
            };
            client
                .post(alertmanager_endpoint(&sink.url))
                .json(&[alertmanager_alert(&event)])
        }
    };
    match request.send().await {
        Ok(response) => classify(response.status(), response.headers()),
        Err(error) if error.is_timeout() => Outcome::Retry(None, "timed out".into()),
        Err(error) => Outcome::Retry(None, format!("{error}")),
    }
}

fn classify(status: StatusCode, headers: &HeaderMap) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered;
    }
    let retryable = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if retryable {
        Outcome::Retry(retry_after(headers), format!("HTTP {status}"))
    } else {
        Outcome::GiveUp(format!("HTTP {status}"))
    }
}

/// A `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.max(0) as u64))
}

/// `sha256=<hex HMAC-SHA256 of body>`.
pub fn signature(secret: &[u8], body: &str) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn alertmanager_endpoint(base: &str) -> String {
    format!("{}/api/v2/alerts", base.trim_end_matches('/'))
}

/// The event as an Alertmanager v2 alert: labels identify it, annotations explain it.
/// Alertmanager runs on the wall clock: an event time ahead of it (a skewed
/// source) is sent as now, so that a resolution takes effect when it is sent.
fn alertmanager_alert(event: &AlertEvent) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let not_after_now = |time: &str| {
        if time > now.as_str() {
            now.clone()
        } else {
            time.to_string()
        }
    };
    let mut alert = json!({
        "labels": {
            "alertname": event.rule,
            "severity": event.severity.as_str(),
            "area": event.area.id,
            "area_name": event.area.name,
            "onrust_id": event.id,
            "source": "onrust",
        },
        "annotations": {
            "summary": format!(
                "{} in {}: {} posts in {}, tension share {:.2} against {:.2}",
                event.rule,
                event.area.name,
                event.observed.posts,
                event.observed.window,
                event.observed.tension,
                event.observed.baseline_tension
            ),
            "terms": event.evidence.terms.join(", "),
            "zscore": format!("{:.2}", event.observed.zscore),
        },
        "startsAt": not_after_now(&event.starts_at),
    });
    if event.status == AlertStatus::Resolved {
        let ends_at = event.ends_at.as_deref().map_or(now.clone(), not_after_now);
        alert["endsAt"] = json!(ends_at);
    }
    alert
}

/// Alertmanager forgets a firing alert that is not re-sent: post the firing ones
/// every interval (best effort; the outbox carries the transitions).
async fn resend_firing(client: reqwest::Client, sink: Sink, live: Arc<Live>) {
    let interval = Duration::from_secs(60);
    while !live.stopping() {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = live.stopped() => return,
        }
        let firing: Vec<serde_json::Value> = match live.store.alerts(i64::MAX) {
            Ok(records) => records
                .iter()
                .filter(|r| r.event.status == AlertStatus::Firing)
                .map(|r| alertmanager_alert(&r.event))
                .collect(),
            Err(error) => {
                eprintln!("onrust: {}: {error:#}", sink.name);
                continue;
            }
        };
        if firing.is_empty() {
            continue;
        }
        let sent = client
            .post(alertmanager_endpoint(&sink.url))
            .json(&firing)
            .send()
            .await
            .context("re-sending firing alerts")
            .and_then(|r| r.error_for_status().context("re-sending firing alerts"));
        if let Err(error) = sent {
            eprintln!("onrust: {}: {error:#}", sink.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_full_jitter() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(0, max, None, 1.0), FIRST_BACKOFF);
        assert_eq!(backoff(3, max, None, 1.0), FIRST_BACKOFF * 8);
        assert_eq!(backoff(30, max, None, 1.0), max);
        assert_eq!(backoff(3, max, None, 0.0), Duration::ZERO);
        assert_eq!(backoff(3, max, None, 0.5), FIRST_BACKOFF * 4);
    }

    #[test]
    fn a_retry_after_is_never_cut_short() {
        let max = Duration::from_secs(60);
        let after = Some(Duration::from_secs(120));
        assert_eq!(backoff(0, max, after, 0.3), Duration::from_secs(120));
    }

    #[test]
    fn statuses_are_delivered_retried_or_given_up() {
        let none = HeaderMap::new();
        assert_eq!(classify(StatusCode::NO_CONTENT, &none), Outcome::Delivered);
        for retried in [408, 429, 500, 503] {
            let status = StatusCode::from_u16(retried).expect("status");
            assert!(
                matches!(classify(status, &none), Outcome::Retry(..)),
                "{retried}"
            );
        }
        for given_up in [400, 401, 404, 410, 422] {
            let status = StatusCode::from_u16(given_up).expect("status");
            assert!(
                matches!(classify(status, &none), Outcome::GiveUp(_)),
                "{given_up}"
            );
        }
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().expect("header"));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers),
            Outcome::Retry(
                Some(Duration::from_secs(7)),
                "HTTP 429 Too Many Requests".into()
            )
        );
    }

    #[test]
    fn the_signature_is_the_hex_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
