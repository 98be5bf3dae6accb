//! The HTTP server (contract section 6): metrics, health, readiness, the API and
//! its server-sent events, on one port.

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use super::live::Live;
use super::store::AlertRecord;
use onrust_signal::engine::AlertStatus;

/// The server's state.
#[derive(Clone)]
pub struct Server {
    /// The daemon's shared state.
    pub live: Arc<Live>,
    /// Where acknowledgements are appended (JSON lines).
    pub audit_log: PathBuf,
    /// Whether reading the API and the metrics needs the bearer token too (the
    /// page itself, `/healthz` and `/readyz` stay open).
    pub protect_reads: bool,
    /// How long checkpoints may fail before `/healthz` says unhealthy.
    pub unhealthy_after: Duration,
    /// The host names requests may be addressed to (lower case, no port);
    /// empty: any.
    pub allowed_hosts: Arc<Vec<String>>,
    /// Event-stream clients at once, at most.
    pub max_event_clients: usize,
    /// Event-stream clients now.
    pub event_clients: Arc<AtomicUsize>,
    /// How often an idle event stream gets a comment: well within the idle
    /// timeout, so that a client that reads is never taken for an idle one.
    pub keep_alive: Duration,
}

impl Server {
    /// The host names a server listening on `listen` answers to when
    /// `http.allowed_hosts` is empty: the loopback names on a loopback
    /// address (so a DNS name rebound to 127.0.0.1 reads nothing), any otherwise.
    pub fn default_hosts(listen: &str) -> Vec<String> {
        let loopback = listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|address| address.ip().is_loopback());
        if loopback {
            ["localhost", "127.0.0.1", "[::1]"]
                .map(String::from)
                .to_vec()
        } else {
            Vec::new()
        }
    }
}

/// Every route.
pub fn router(server: Server) -> Router {
    let reads = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/areas", get(areas))
        .route("/api/v1/geometry", get(geometry))
        .route("/api/v1/areas/{id}/history", get(history))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(server.clone(), guard_reads));
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .merge(reads)
        .layer(middleware::from_fn_with_state(server.clone(), check_host))
        .with_state(server)
}

/// Refuses a request addressed to a host not allowed (421): a page whose DNS
/// name was rebound to this address cannot read alerts and evidence through a
/// browser.
/// `/healthz`, `/readyz` and `/metrics` pass: kubelets and Prometheus address
/// the pod by its IP, and a refused probe would restart it in a loop.
async fn check_host(State(server): State<Server>, request: Request, next: Next) -> Response {
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics");
    if !probe && !server.allowed_hosts.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(host_name)
            .unwrap_or_default();
        if !server.allowed_hosts.contains(&host) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                format!("host {host:?} is not one this server answers to (http.allowed_hosts)\n"),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// A `Host` header's name, lower case, without its port.
pub fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        // [::1]:8080
        return host
            .split_once(']')
            .map_or(host.clone(), |(name, _)| format!("{name}]"));
    }
    host.split(':').next().unwrap_or_default().to_string()
}

/// The token as a query parameter: browsers' `EventSource` cannot send headers,
/// so `/api/v1/events` also takes `?access_token=` (RFC 6750, section 2.3).
#[derive(Deserialize)]
struct TokenQuery {
    access_token: String,
}

/// With `protect_reads`, lets a read through only with the bearer token.
async fn guard_reads(State(server): State<Server>, request: Request, next: Next) -> Response {
    if server.protect_reads {
        let from_query = (request.uri().path() == "/api/v1/events")
            .then(|| Query::<TokenQuery>::try_from_uri(request.uri()).ok())
            .flatten()
            .map(|Query(query)| query.access_token);
        if !authorized(&server, request.headers(), from_query.as_deref()) {
            return unauthorized("a valid bearer token is needed to read");
        }
    }
    next.run(request).await
}

/// Whether the request carries the configured token (any request does when none
/// is configured): `Authorization: Bearer <token>`, or `query_token`.
fn authorized(server: &Server, headers: &HeaderMap, query_token: Option<&str>) -> bool {
    let Some(token) = &server.live.token else {
        return true;
    };
    // The scheme is case-insensitive (RFC 9110, section 11.1): `bearer` is `Bearer`.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start())
        .or(query_token)
        .unwrap_or("");
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

fn unauthorized(why: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        format!("{why}\n"),
    )
        .into_response()
}

/// The operations-room dashboard: one page, every asset inside it (operations
/// rooms are often offline: nothing comes from a CDN).
const DASHBOARD: &str = include_str!("dashboard.html");

async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        DASHBOARD,
    )
        .into_response()
}

async fn metrics(State(server): State<Server>) -> Response {
    match server.live.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}\n")).into_response(),
    }
}

async fn healthz(State(server): State<Server>) -> Response {
    match server.live.unhealthy(server.unhealthy_after) {
        None => "ok\n".into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {why}\n"),
        )
            .into_response(),
    }
}

async fn readyz(State(server): State<Server>) -> Response {
    let reasons = server.live.not_ready();
    let (status, mut body) = if reasons.is_empty() {
        (StatusCode::OK, String::from("ready\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", reasons.join("; ")),
        )
    };
    // Positions the broker no longer had: the daemon goes on, but an operator
    // should know that posts may have been lost or read anew.
    for notice in server.live.offset_resets() {
        body.push_str(&notice);
        body.push('\n');
    }
    (status, body).into_response()
}

async fn areas(State(server): State<Server>) -> Response {
    Json(server.live.areas()).into_response()
}

/// An area's last 24 hours of event time, and its alerts.
async fn history(State(server): State<Server>, Path(id): Path<String>) -> Response {
    let since = chrono::Utc::now().timestamp_millis() - super::store::RESOLVED_KEPT_MS;
    let alerts: Vec<AlertRecord> = match server.live.store.alerts(since) {
        Ok(records) => records
            .into_iter()
            .filter(|r| r.event.area.id == id)
            .collect(),
        Err(error) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}\n")).into_response()
        }
    };
    Json(serde_json::json!({
        "area": id,
        "points": server.live.history(&id),
        "alerts": alerts,
    }))
    .into_response()
}

/// The areas' outlines (the areas file), for the dashboard's map.
async fn geometry(State(server): State<Server>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        server.live.geometry.clone(),
    )
        .into_response()
}

/// Active alerts first (most severe, then oldest), then resolved ones, newest first.
async fn alerts(State(server): State<Server>) -> Response {
    let since = chrono::Utc::now().timestamp_millis() - super::store::RESOLVED_KEPT_MS;
    match server.live.store.alerts(since) {
        Ok(mut records) => {
            records.sort_by(|a, b| {
                let firing = |r: &AlertRecord| r.event.status == AlertStatus::Firing;
                firing(b)
                    .cmp(&firing(a))
                    .then(b.event.severity.cmp(&a.event.severity))
                    .then_with(|| {
                        if firing(a) {
                            a.event.starts_at.cmp(&b.event.starts_at)
                        } else {
                            b.event.ends_at.cmp(&a.event.ends_at)
                        }
                    })
            });
            Json(records).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}\n")).into_response(),
    }
}

#[derive(Deserialize, Default)]
struct AckBody {
    /// Who acknowledges (an operator's name or call sign).
    by: Option<String>,
}

/// The largest acknowledgement body read.
const ACK_BODY_LIMIT: usize = 16 * 1024;

async fn ack(State(server): State<Server>, Path(id): Path<String>, request: Request) -> Response {
    let headers = request.headers();
    // The token before anything is read: an unauthorised body costs nothing.
    if !authorized(&server, headers, None) {
        return unauthorized("a valid bearer token is needed to acknowledge");
    }
    if let Some(refusal) = cross_site(headers) {
        return refusal;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    let body = match axum::body::to_bytes(request.into_body(), ACK_BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {ACK_BODY_LIMIT} bytes\n"),
            )
                .into_response()
        }
    };
    if !body.is_empty() && !is_json {
        // A form or `text/plain` POST is what a cross-site page can send without
        // asking: only JSON is taken.
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json\n",
        )
            .into_response();
    }
    let request: AckBody = if body.is_empty() {
        AckBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(error) => {
                return (StatusCode::BAD_REQUEST, format!("body: {error}\n")).into_response()
            }
        }
    };
    let by: String = request
        .by
        .unwrap_or_else(|| "operator".into())
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible(c))
        .take(100)
        .collect();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match server.live.store.ack(&id, &by, &at) {
        Ok(Some(record)) => {
            if let Err(error) = audit(&server.audit_log, &id, &by, &at) {
                eprintln!("onrust: audit log: {error:#}");
            }
            if let Ok(data) = serde_json::to_string(&record) {
                let _ = server
                    .live
                    .changes
                    .send(super::live::Change { kind: "ack", data });
            }
            Json(record).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, format!("no alert {id:?}\n")).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}\n")).into_response(),
    }
}

/// Characters that change how a name reads without showing: bidirectional
/// overrides and isolates, zero-width spaces and joiners, the byte-order mark,
/// the soft hyphen. An audit log must read as it was written.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A write from another site: an `Origin` whose host is not the one the
/// request was sent to (browsers send `Origin` on every cross-site POST).
fn cross_site(headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    if origin_host.is_some() && origin_host == host {
        return None;
    }
    Some(
        (
            StatusCode::FORBIDDEN,
            format!("a write from another site ({origin}) is refused\n"),
        )
            .into_response(),
    )
}

/// Appends one acknowledgement to the audit log.
fn audit(path: &std::path::Path, id: &str, by: &str, at: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let line = serde_json::json!({"action": "ack", "alert": id, "by": by, "at": at});
    writeln!(file, "{line}")?;
    file.sync_data()?;
    Ok(())
}

/// Compares secrets in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One event-stream client, counted while it is connected.
struct EventClient(Arc<AtomicUsize>);

impl Drop for EventClient {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn events(State(server): State<Server>) -> Response {
    let clients = Arc::clone(&server.event_clients);
    if clients.fetch_add(1, Ordering::Relaxed) >= server.max_event_clients {
        clients.fetch_sub(1, Ordering::Relaxed);
        server
            .live
            .metrics
            .event_clients_refused
            .with_label_values(&["full"])
            .inc();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "30")],
            "too many event-stream clients (http.max_event_clients)\n",
        )
            .into_response();
    }
    let client = EventClient(clients);
    let snapshot = serde_json::to_string(&server.live.areas()).unwrap_or_else(|_| "[]".into());
    let first = tokio_stream::once(Ok::<Event, Infallible>(
        Event::default().event("areas").data(snapshot),
    ));
    let live = Arc::clone(&server.live);
    // A client that fell a whole channel behind (it reads too slowly) is
    // dropped rather than buffered for: it reconnects and gets a fresh `areas`.
    let changes = BroadcastStream::new(server.live.changes.subscribe()).map_while(move |change| {
        let _connected = &client;
        match change {
            Ok(change) => Some(Ok(Event::default().event(change.kind).data(change.data))),
            Err(_) => {
                live.metrics
                    .event_clients_refused
                    .with_label_values(&["slow"])
                    .inc();
                None
            }
        }
    });
    Sse::new(first.chain(changes))
        .keep_alive(KeepAlive::new().interval(server.keep_alive))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{constant_time_eq, cross_site, is_invisible};
    use axum::http::{header, HeaderMap, HeaderValue};

    #[test]
    fn invisible_characters_cannot_disguise_a_name() {
        let disguised = "duty\u{202E}reciffo\u{200B}\u{FEFF}";
        let shown: String = disguised.chars().filter(|&c| !is_invisible(c)).collect();
        assert_eq!(shown, "dutyreciffo");
        assert!("Zoë Öztürk-Ĳsselmeer".chars().all(|c| !is_invisible(c)));
    }

    #[test]
    fn only_writes_from_the_page_itself_or_without_an_origin_pass() {
        let headers = |origin: Option<&'static str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static("ops.example:8080"));
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
            }
            headers
        };
        assert!(cross_site(&headers(None)).is_none(), "curl sends no Origin");
        assert!(cross_site(&headers(Some("https://ops.example:8080"))).is_none());
        for origin in ["http://evil.example", "null", "http://ops.example:8081"] {
            assert!(cross_site(&headers(Some(origin))).is_some(), "{origin}");
        }
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
