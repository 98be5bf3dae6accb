//! End to end through a real broker: posts from Kafka through `onrust run` to its
//! metrics and alerts, on this machine with a Tansu broker beside it.
//!
//! Run: `cargo bench --bench kafka` (needs `tansu`, which `tests/run.sh` installs).
//! Options: `--posts N` (throughput phase, default 500000), `--rate R` and
//! `--seconds S` (latency phase, default 20000 posts/s for 20 s), `--incident-rate
//! I` (post-to-alert phase, default 2000 posts/s).
//!
//! 1. Throughput: N posts are produced first, then the daemon starts; the rate is
//!    N over the time from its first counted post to its last.
//! 2. Latency: a fresh daemon while posts arrive at R per second; the p50 and p99
//!    of `onrust_processing_seconds` (a post's arrival at the consumer to its effect
//!    on the area figures) and of `onrust_ingest_delay_seconds` (from the Kafka
//!    timestamp, so broker and consumer fetch included), read from `/metrics`.
//! 3. Backlog drain: `--drain N` posts (default 200000) keyed by id over
//!    `--partitions P` partitions (default 8), and the same posts on one
//!    partition, produced before the daemon starts; posts per second from the first
//!    counted to the last, and peak RSS, for each. Tansu skips the rest of a batch
//!    when a paused partition resumes inside it: those offsets are reported as
//!    missed (a Kafka broker returns the whole batch), and the drain ends when
//!    counted plus missed reach N.
//! 4. Post to alert: the incident scenario of `tests/scenarios` at I posts per
//!    second to a daemon with a webhook receiver on loopback; the p50 and p99 of
//!    `onrust_alert_delivery_seconds` (the arrival of the post that raised an
//!    alert event to the receiver's 2xx: evaluation, checkpoint, outbox, HTTP).
//!    Event time adds the watermark's allowed lateness (5 minutes by default)
//!    before a minute is evaluated at all; that is configuration, not speed.
//!
//! Prints one JSON line.

#[allow(dead_code, reason = "shared by the benches, each using a part")]
mod end_to_end;
#[path = "../tests/services.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod services;
#[path = "../tests/support.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod support;

use std::time::{Duration, Instant};

use end_to_end::{option, quantile, scenario_texts};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use services::{free_port, produce_to, Broker, Daemon, Receiver};
use support::{root, TempDir};

fn main() {
    let total = option("--posts").unwrap_or(500_000) as usize;
    let rate = option("--rate").unwrap_or(20_000);
    let seconds = option("--seconds").unwrap_or(20);
    let incident_rate = option("--incident-rate").unwrap_or(2_000);
    let drain_posts = option("--drain").unwrap_or(200_000) as usize;
    let partitions = option("--partitions").unwrap_or(8) as i32;

    let broker = Broker::start();
    for topic in ["bulk", "paced", "incident", "posts.dead"] {
        broker.create_topic(topic, 1);
    }
    let posts = posts(total.max((rate * seconds) as usize));

    let started = Instant::now();
    produce_to(&broker.address(), "bulk", &posts[..total]);
    let produced_per_s = total as f64 / started.elapsed().as_secs_f64();

    let dir = TempDir::new("bench-kafka");
    let bulk = start(&dir, &broker, "bulk", "bulk", "");
    let counted = |daemon: &Daemon| daemon.metric("onrust_posts_total");
    wait(|| counted(&bulk) > 0.0, Duration::from_secs(60));
    let first = Instant::now();
    wait(|| counted(&bulk) >= total as f64, Duration::from_secs(600));
    let posts_per_s = total as f64 / first.elapsed().as_secs_f64();
    let bulk_rss_mib = bulk.metric("process_resident_memory_bytes") / 1048576.0;
    assert_eq!(bulk.terminate(), Some(0));

    // Tansu answers a fetch when its wait runs out rather than when data arrives:
    // a short wait keeps that out of the latency measured (a Kafka broker answers
    // as soon as data is there, and needs no such setting).
    let paced = start(
        &dir,
        &broker,
        "paced",
        "paced",
        "[kafka.options]\n\"fetch.wait.max.ms\" = \"10\"\n",
    );
    wait(
        || paced.get("/readyz").is_some_and(|(s, _)| s == 200),
        Duration::from_secs(60),
    );
    // Let the group settle before the clock starts.
    std::thread::sleep(Duration::from_secs(4));
    let achieved_rate = produce_paced(&broker, "paced", &posts[..(rate * seconds) as usize], rate);
    let expected = (rate * seconds) as f64;
    wait(|| counted(&paced) >= expected, Duration::from_secs(120));
    let (_, text) = paced.get("/metrics").expect("metrics");
    if std::env::var_os("ONRUST_BENCH_DEBUG").is_some() {
        eprintln!("{text}");
    }
    let mut report = serde_json::json!({
        "bench": "kafka",
        "throughput": {
            "posts": total,
            "produced_per_s": produced_per_s.round(),
            "posts_per_s": posts_per_s.round(),
            "rss_mib": bulk_rss_mib.round(),
        },
        "latency": {
            "target_rate": rate,
            "achieved_rate": achieved_rate.round(),
            "seconds": seconds,
            "processing_p50_s": quantile(&text, "onrust_processing_seconds", 0.5),
            "processing_p99_s": quantile(&text, "onrust_processing_seconds", 0.99),
            "ingest_delay_p50_s": quantile(&text, "onrust_ingest_delay_seconds", 0.5),
            "ingest_delay_p99_s": quantile(&text, "onrust_ingest_delay_seconds", 0.99),
            "rss_mib": (paced.metric("process_resident_memory_bytes") / 1048576.0).round(),
        },
    });
    assert_eq!(paced.terminate(), Some(0));

    let drain_posts = crate::posts(drain_posts);
    let one = drain(&dir, &broker, "drain-1", 1, &drain_posts);
    let many = drain(&dir, &broker, "drain-n", partitions, &drain_posts);
    report["backlog_drain"] = serde_json::json!({
        "posts": drain_posts.len(),
        "one_partition": one,
        "partitions": partitions,
        "many_partitions": many,
        "ratio": (many["posts_per_s"].as_f64().unwrap_or(0.0)
            / one["posts_per_s"].as_f64().unwrap_or(1.0) * 100.0).round() / 100.0,
    });

    let receiver = Receiver::start();
    let incident = start(
        &dir,
        &broker,
        "incident",
        "incident",
        &format!(
            "[kafka.options]\n\"fetch.wait.max.ms\" = \"10\"\n\n[[webhooks]]\nurl = \"{}\"\n",
            receiver.url()
        ),
    );
    wait(
        || incident.get("/readyz").is_some_and(|(s, _)| s == 200),
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_secs(4));
    let scenario: Vec<String> =
        std::fs::read_to_string(root().join("tests/scenarios/incident_town.jsonl"))
            .expect("scenario")
            .lines()
            .map(str::to_string)
            .collect();
    let events =
        std::fs::read_to_string(root().join("tests/scenarios/incident_town.expected.jsonl"))
            .expect("expected events")
            .lines()
            .count();
    produce_paced(&broker, "incident", &scenario, incident_rate);
    wait(
        || incident.metric("onrust_alert_delivery_seconds_count") >= events as f64,
        Duration::from_secs(120),
    );
    let (_, text) = incident.get("/metrics").expect("metrics");
    report["post_to_alert"] = serde_json::json!({
        "rate": incident_rate,
        "alert_events": events,
        "delivered": receiver.delivered().len(),
        "p50_s": quantile(&text, "onrust_alert_delivery_seconds", 0.5),
        "p99_s": quantile(&text, "onrust_alert_delivery_seconds", 0.99),
        "mean_s": incident.metric("onrust_alert_delivery_seconds_sum")
            / incident.metric("onrust_alert_delivery_seconds_count"),
    });
    assert_eq!(incident.terminate(), Some(0));
    println!("{report}");
}

/// Produces `posts` keyed by id to `partitions` partitions of a new `topic`,
/// then drains them with a fresh daemon: its rate, peak RSS, and what it counted
/// late, missed and paused on the way.
fn drain(
    dir: &TempDir,
    broker: &Broker,
    topic: &str,
    partitions: i32,
    posts: &[String],
) -> serde_json::Value {
    broker.create_topic(topic, partitions as u32);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (i, post) in posts.iter().enumerate() {
        let key = format!("bench-{i}");
        let mut record = BaseRecord::<(), str>::to(topic)
            .payload(post.as_str())
            .partition(services::partition_of(&key, partitions));
        while let Err((_, returned)) = producer.send(record) {
            record = returned;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let daemon = start(
        dir,
        broker,
        topic,
        topic,
        "[kafka.options]\n\"fetch.wait.max.ms\" = \"10\"\n",
    );
    let done = |daemon: &Daemon| {
        daemon.metric("onrust_posts_total") + daemon.metric("onrust_kafka_offsets_missed_total")
    };
    wait(|| done(&daemon) > 0.0, Duration::from_secs(60));
    let first = Instant::now();
    let mut peak_rss = 0.0f64;
    wait(
        || {
            peak_rss = peak_rss.max(daemon.metric("process_resident_memory_bytes"));
            done(&daemon) >= posts.len() as f64
        },
        Duration::from_secs(900),
    );
    let seconds = first.elapsed().as_secs_f64();
    let counted = daemon.metric("onrust_posts_total");
    let report = serde_json::json!({
        "posts_per_s": (counted / seconds).round(),
        "peak_rss_mib": (peak_rss / 1048576.0).round(),
        "counted": counted,
        "late": daemon.metric("onrust_posts_late_total"),
        "missed": daemon.metric("onrust_kafka_offsets_missed_total"),
    });
    assert_eq!(daemon.terminate(), Some(0));
    report
}

/// Produces `posts` to `topic` at `rate` per second, a thousandth of a second's
/// worth at a time; the rate achieved.
fn produce_paced(broker: &Broker, topic: &str, posts: &[String], rate: u64) -> f64 {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("enable.idempotence", "false")
        .set("linger.ms", "1")
        .create()
        .expect("producer");
    let batch = (rate / 1000).max(1) as usize;
    let send_start = Instant::now();
    for (i, chunk) in posts.chunks(batch).enumerate() {
        let due = send_start + Duration::from_millis(i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for post in chunk {
            let mut record = BaseRecord::<(), str>::to(topic).payload(post.as_str());
            while let Err((_, returned)) = producer.send(record) {
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    posts.len() as f64 / send_start.elapsed().as_secs_f64()
}

/// `count` posts: the scenarios' texts in turn, one every 20 ms of event time,
/// spread over the scenarios' areas, each with a unique id.
fn posts(count: usize) -> Vec<String> {
    let texts = scenario_texts();
    let areas = ["GM0014", "GM0017", "GM0363", "GM0599", "GM1680"];
    let start_ms = 1_795_737_600_000i64;
    (0..count)
        .map(|i| {
            serde_json::json!({
                "id": format!("bench-{i}"),
                "text": texts[(i * 7919) % texts.len()],
                "created_at": start_ms + 20 * i as i64,
                "area": areas[i % areas.len()],
            })
            .to_string()
        })
        .collect()
}

fn start(dir: &TempDir, broker: &Broker, topic: &str, group: &str, extra: &str) -> Daemon {
    let http = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join(format!("{group}.toml"));
    let toml = format!(
        "[areas]\nfile = \"{areas}\"\n\n[kafka]\nbrokers = \"{broker}\"\ntopic = \"{topic}\"\ngroup = \"{group}\"\n\n[http]\nlisten = \"{http}\"\n\n[state]\ndir = \"state-{group}\"\n\n{extra}",
        areas = root().join("tests/scenarios/areas.geojson").display(),
        broker = broker.address(),
    );
    std::fs::write(&config, toml).expect("config");
    Daemon::start(&config, &http, dir, &[])
}

/// Waits for `condition`, polling every 20 ms: finer than the tests'
/// `wait_until`, since the throughput figure is timed by it.
fn wait(mut condition: impl FnMut() -> bool, limit: Duration) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}
