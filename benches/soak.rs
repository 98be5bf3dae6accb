//! The soak: `onrust run` fed through a Tansu broker at a steady rate for a long
//! time, to show that memory stays flat and latency does not grow. Not part of
//! the test suite (it takes half an hour).
//!
//! Run: `cargo bench --bench soak -- --minutes 30 --rate 20000 [--areas 300]`.
//! Without `--minutes` it only says how to run it, so a plain `cargo bench` stays
//! short.
//!
//! Posts carry the current time as `created_at`, so the watermark, windows,
//! baselines and evaluation run as in production; they are spread over `--areas`
//! area ids (the `area` field) with the scenarios' texts. Every minute it prints
//! one JSON line: resident memory, posts counted, consumer lag, and the p50/p99
//! of that minute alone (bucket deltas) of `onrust_processing_seconds` and
//! `onrust_ingest_delay_seconds`. The last line compares the first and the last
//! five minutes.

#[allow(dead_code, reason = "shared by the benches, each using a part")]
mod end_to_end;
#[path = "../tests/services.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod services;
#[path = "../tests/support.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use end_to_end::{delta_quantile, option, scenario_texts};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use services::{free_port, metric_in as metric, Broker, Daemon};
use support::TempDir;

fn main() {
    let Some(minutes) = option("--minutes") else {
        println!("soak: not run; `cargo bench --bench soak -- --minutes 30 --rate 20000`");
        return;
    };
    let rate = option("--rate").unwrap_or(20_000);
    let areas = option("--areas").unwrap_or(300) as usize;

    let broker = Broker::start();
    for topic in ["soak", "posts.dead"] {
        broker.create_topic(topic, 1);
    }
    let dir = TempDir::new("bench-soak");
    let http = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("soak.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"{}\"\ntopic = \"soak\"\ngroup = \"soak\"\n\n[kafka.options]\n\"fetch.wait.max.ms\" = \"10\"\n\n[http]\nlisten = \"{http}\"\n",
            broker.address()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(&config, &http, &dir, &[]);
    let ready = Instant::now();
    while daemon.get("/readyz").is_none_or(|(s, _)| s != 200) {
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "the daemon never got ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (stop, address, texts) = (Arc::clone(&stop), broker.address(), scenario_texts());
        std::thread::spawn(move || produce(&address, rate, areas, &texts, &stop))
    };
    let mut samples = Vec::new();
    let mut previous = daemon.get("/metrics").map(|(_, t)| t).unwrap_or_default();
    let started = Instant::now();
    for minute in 1..=minutes {
        let due = started + Duration::from_secs(60 * minute);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let (_, text) = daemon.get("/metrics").expect("metrics");
        let sample = serde_json::json!({
            "minute": minute,
            "rss_mib": (metric(&text, "process_resident_memory_bytes") / 1048576.0).round(),
            "posts": metric(&text, "onrust_posts_total"),
            "lag": metric(&text, "onrust_kafka_consumer_lag"),
            "processing_p50_s": delta_quantile(&previous, &text, "onrust_processing_seconds", 0.5),
            "processing_p99_s": delta_quantile(&previous, &text, "onrust_processing_seconds", 0.99),
            "ingest_delay_p50_s": delta_quantile(&previous, &text, "onrust_ingest_delay_seconds", 0.5),
            "ingest_delay_p99_s": delta_quantile(&previous, &text, "onrust_ingest_delay_seconds", 0.99),
        });
        println!("{sample}");
        samples.push(sample);
        previous = text;
    }
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().expect("producer");
    let window = samples.len().min(5);
    let mean = |part: &[serde_json::Value], key: &str| {
        part.iter().filter_map(|s| s[key].as_f64()).sum::<f64>() / part.len().max(1) as f64
    };
    let (first, last) = (&samples[..window], &samples[samples.len() - window..]);
    println!(
        "{}",
        serde_json::json!({
            "bench": "soak",
            "minutes": minutes,
            "target_rate": rate,
            "achieved_rate": (sent as f64 / started.elapsed().as_secs_f64()).round(),
            "areas": areas,
            "rss_mib_first_5_min": mean(first, "rss_mib"),
            "rss_mib_last_5_min": mean(last, "rss_mib"),
            "processing_p99_s_first_5_min": mean(first, "processing_p99_s"),
            "processing_p99_s_last_5_min": mean(last, "processing_p99_s"),
            "ingest_delay_p99_s_first_5_min": mean(first, "ingest_delay_p99_s"),
            "ingest_delay_p99_s_last_5_min": mean(last, "ingest_delay_p99_s"),
        })
    );
    assert_eq!(daemon.terminate(), Some(0));
}

/// Produces posts at `rate` per second until `stop`; how many were sent.
fn produce(address: &str, rate: u64, areas: usize, texts: &[String], stop: &AtomicBool) -> u64 {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let per_ms = (rate / 1000).max(1);
    let start = Instant::now();
    let mut sent = 0u64;
    for tick in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = start + Duration::from_millis(tick);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let now_ms = chrono::Utc::now().timestamp_millis();
        for _ in 0..per_ms {
            let post = serde_json::json!({
                "id": format!("soak-{sent}"),
                "text": texts[(sent as usize * 7919) % texts.len()],
                "created_at": now_ms,
                "area": format!("A{:04}", (sent as usize * 31) % areas.max(1)),
                "author": format!("author-{}", sent % 50_000),
            })
            .to_string();
            let mut record = BaseRecord::<(), str>::to("soak").payload(&post);
            while let Err((_, returned)) = producer.send(record) {
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
            sent += 1;
        }
    }
    let _ = producer.flush(Duration::from_secs(30));
    sent
}
