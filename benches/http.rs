//! The HTTP server under hostile load: `onrust run` (no broker needed: HTTP
//! serves while the daemon waits for one) with the 342 municipalities of CBS
//! 2025, then 10,000 idle connections held open, then 1,000 event-stream
//! clients that never read. At each stage: the daemon's resident memory and the
//! p50/p99 of `/healthz` over 500 requests, each on a new connection.
//!
//! Run: `cargo bench --bench http` (needs `ulimit -n` above 12,000). Prints one
//! JSON line per stage.

#[path = "../tests/services.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod services;
#[path = "../tests/support.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use services::{free_port, metric_in, Broker, Daemon};
use support::{root, TempDir};

const IDLE_CONNECTIONS: usize = 10_000;
const EVENT_CLIENTS: usize = 1_000;
const PROBES: usize = 500;

fn main() {
    let broker = Broker::unstarted();
    let dir = TempDir::new("bench-http");
    let http = format!("127.0.0.1:{}", free_port());
    let areas = root().join("../shared/data/areas/nl-gemeenten-2025.geojson");
    let config = dir.path().join("http.toml");
    std::fs::write(
        &config,
        format!(
            "[areas]\nfile = \"{}\"\n\n[kafka]\nbrokers = \"{}\"\n\n[http]\nlisten = \"{http}\"\n\
             max_connections = {}\nmax_connections_per_client = {}\nidle_timeout_seconds = 600\n\
             max_event_clients = {EVENT_CLIENTS}\n",
            areas.display(),
            broker.address(),
            IDLE_CONNECTIONS + EVENT_CLIENTS + 100,
            IDLE_CONNECTIONS + EVENT_CLIENTS + 100,
        ),
    )
    .expect("config");
    let daemon = Daemon::start(&config, &http, &dir, &[]);
    let up = Instant::now();
    while daemon.get("/healthz").is_none_or(|(s, _)| s != 200) {
        assert!(up.elapsed() < Duration::from_secs(30), "no HTTP server");
        std::thread::sleep(Duration::from_millis(50));
    }
    report("quiet", &daemon, &http, 0);

    let mut held: Vec<TcpStream> = Vec::with_capacity(IDLE_CONNECTIONS + EVENT_CLIENTS);
    for _ in 0..IDLE_CONNECTIONS {
        held.push(TcpStream::connect(&http).expect("connect"));
    }
    std::thread::sleep(Duration::from_secs(2));
    report("idle connections", &daemon, &http, held.len());

    for _ in 0..EVENT_CLIENTS {
        let mut stream = TcpStream::connect(&http).expect("connect");
        write!(
            stream,
            "GET /api/v1/events HTTP/1.1\r\nHost: {http}\r\n\r\n"
        )
        .expect("request");
        held.push(stream);
    }
    std::thread::sleep(Duration::from_secs(5));
    report(
        "idle connections + stalled event streams",
        &daemon,
        &http,
        held.len(),
    );
    drop(held);
    let _ = daemon.terminate();
}

/// One JSON line: the stage, connections held, resident memory, `/healthz`
/// p50 and p99 (ms).
fn report(stage: &str, daemon: &Daemon, http: &str, held: usize) {
    let mut times: Vec<f64> = (0..PROBES).map(|_| healthz_ms(http)).collect();
    times.sort_by(f64::total_cmp);
    let quantile = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    let metrics = daemon.get("/metrics").map(|(_, t)| t).unwrap_or_default();
    let rss_mb = metric_in(&metrics, "process_resident_memory_bytes") / 1e6;
    println!(
        "{}",
        serde_json::json!({
            "stage": stage,
            "connections_held": held,
            "rss_mb": (rss_mb * 10.0).round() / 10.0,
            "healthz_p50_ms": (quantile(0.5) * 100.0).round() / 100.0,
            "healthz_p99_ms": (quantile(0.99) * 100.0).round() / 100.0,
        })
    );
}

/// `GET /healthz` on a new connection: milliseconds to the whole answer.
fn healthz_ms(http: &str) -> f64 {
    let started = Instant::now();
    let mut stream = TcpStream::connect(http).expect("connect");
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    started.elapsed().as_secs_f64() * 1000.0
}
