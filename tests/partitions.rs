//! Event time across Kafka partitions, against a real Tansu broker: a topic of
//! several partitions whose producer keys posts by id (unrelated to time) gives
//! the daemon exactly `replay`'s alerts and late count on the same file, whether
//! the daemon starts on a backlog, is killed in the middle of it, reads a live
//! stream with one partition lagging, or shares the group with another member.
//! A topic recreated while the daemon was down is reported as an offset reset.

use std::path::Path;
use std::time::Duration;

use crate::daemon::{golden, scenario, setup, start, wait_for_delivered, Setup, DEAD};
use crate::services::{partition_of, produce_partitioned, wait_until, Broker, Daemon, Receiver};
use crate::support::{onrust, root, stderr};

const PARTITIONS: i32 = 8;

/// Replaces `from` (which must be there) by `to` in the file at `path`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("config");
    assert!(text.contains(from), "{from} in {}", path.display());
    std::fs::write(path, text.replace(from, to)).expect("config");
}

/// A daemon configuration reading `topic` as `group`, with partitions idle after
/// two seconds of silence (so that the stream's last minutes close soon after
/// its end) and `receiver` as its webhook.
fn partitioned_setup(
    name: &str,
    broker: &Broker,
    topic: &str,
    group: &str,
    hook: Option<&str>,
) -> Setup {
    let setup = setup(name, &broker.address(), group, hook, "");
    edit(
        &setup.config,
        "topic = \"posts\"",
        &format!("topic = \"{topic}\"\nidle_partition_seconds = 2"),
    );
    setup
}

/// The scenario's posts with the partition a producer keying by post id sends
/// each to.
fn keyed_by_id(partitions: i32) -> Vec<(i32, Vec<u8>)> {
    scenario()
        .into_iter()
        .map(|line| {
            let post: serde_json::Value = serde_json::from_str(&line).expect("post");
            let id = post["id"].as_str().expect("id").to_string();
            (partition_of(&id, partitions), line.into_bytes())
        })
        .collect()
}

/// How many posts `replay` counts late on the scenario.
fn replay_late() -> u64 {
    let output = onrust()
        .args([
            "replay",
            "--config",
            &root()
                .join("tests/scenarios/onrust.toml")
                .display()
                .to_string(),
            &root()
                .join("tests/scenarios/incident_town.jsonl")
                .display()
                .to_string(),
        ])
        .output()
        .expect("replay");
    let summary = stderr(&output);
    summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" late"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no late count in {summary:?}"))
}

/// An alert event's body without the evidence posts and terms: which of a
/// window's tense posts are shown may differ between interleavings of the
/// partitions (see `crates/signal/tests/partitions.rs`); the rest may not.
fn without_evidence(body: &str) -> serde_json::Value {
    let mut event: serde_json::Value = serde_json::from_str(body).expect("alert event");
    event["evidence"]["posts"] = serde_json::Value::Null;
    event["evidence"]["terms"] = serde_json::Value::Null;
    event
}

/// The alert events `receiver` was delivered, once per idempotency key, sorted,
/// without their evidence posts.
fn delivered_once(receiver: &Receiver) -> Vec<(String, serde_json::Value)> {
    let mut unique = receiver.delivered();
    unique.sort();
    unique.dedup_by(|a, b| a.0 == b.0);
    unique
        .into_iter()
        .map(|(key, body)| (key, without_evidence(&body)))
        .collect()
}

/// Replay's events on the scenario, sorted by key, without their evidence posts.
fn sorted_golden() -> Vec<(String, serde_json::Value)> {
    let mut expected = golden();
    expected.sort();
    expected
        .into_iter()
        .map(|(key, body)| (key, without_evidence(&body)))
        .collect()
}

/// Polls `condition` every 100 ms until it holds; after `limit`, fails with the
/// daemon's log.
fn wait_for(daemon: &Daemon, what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `group` has committed at least `total` posts on `topic`.
fn wait_for_committed(broker: &Broker, group: &str, topic: &str, total: usize, daemon: &Daemon) {
    let limit = Duration::from_secs(120);
    let start = std::time::Instant::now();
    while broker.committed_total(group, topic, PARTITIONS) < total as i64 {
        assert!(
            start.elapsed() < limit,
            "{} of {total} committed after {limit:?}:\n{}\n{}",
            broker.committed_total(group, topic, PARTITIONS),
            daemon.log(),
            daemon.get("/metrics").map(|(_, m)| m).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_backlog_on_eight_partitions_killed_midway_gives_replays_alerts() {
    let broker = Broker::start();
    broker.create_topic("backlog", PARTITIONS as u32);
    broker.create_topic(DEAD, 1);
    let posts = keyed_by_id(PARTITIONS);
    // The morning after an outage: the whole firehose waits before the start.
    produce_partitioned(&broker.address(), "backlog", &posts);
    let receiver = Receiver::start();
    let url = receiver.url();
    let setup = partitioned_setup(
        "partitions-backlog",
        &broker,
        "backlog",
        "backlog",
        Some(&url),
    );
    let daemon = start(&setup);
    wait_for_committed(&broker, "backlog", "backlog", posts.len() / 4, &daemon);
    daemon.kill();
    let daemon = start(&setup);
    wait_for_committed(&broker, "backlog", "backlog", posts.len(), &daemon);
    let expected = sorted_golden();
    wait_for_delivered(&receiver, &daemon, expected.len());
    assert_eq!(delivered_once(&receiver), expected, "{}", daemon.log());
    assert_eq!(
        daemon.metric("onrust_posts_late_total") as u64,
        replay_late(),
        "late as in replay:\n{}",
        daemon.log()
    );
    assert_eq!(daemon.metric("onrust_kafka_offsets_missed_total"), 0.0);
    let watermarks = (0..PARTITIONS)
        .filter(|p| {
            daemon.metric(&format!(
                "onrust_partition_watermark_seconds{{partition=\"{p}\"}}"
            )) > 0.0
        })
        .count();
    assert_eq!(watermarks, PARTITIONS as usize, "a watermark per partition");
    assert!(daemon.metric("onrust_watermark_seconds") > 0.0);
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_live_stream_with_one_partition_lagging_gives_replays_alerts() {
    let broker = Broker::start();
    broker.create_topic("live", PARTITIONS as u32);
    broker.create_topic(DEAD, 1);
    let receiver = Receiver::start();
    let url = receiver.url();
    let setup = partitioned_setup("partitions-live", &broker, "live", "live", Some(&url));
    // The lagging partition lags in event time, not for the idle time: it must
    // hold the others back, not be left behind.
    edit(
        &setup.config,
        "idle_partition_seconds = 2",
        "idle_partition_seconds = 15",
    );
    let daemon = start(&setup);
    wait_until("readiness", Duration::from_secs(60), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    let posts = keyed_by_id(PARTITIONS);
    let (lagging, others): (Vec<_>, Vec<_>) = posts.into_iter().partition(|(p, _)| *p == 3);
    let address = broker.address();
    let total = lagging.len() + others.len();
    // A steady rate, partition 3 three chunks (some 25 minutes of event time)
    // behind the rest.
    let producer = std::thread::spawn(move || {
        let chunks: Vec<&[(i32, Vec<u8>)]> = others.chunks(300).collect();
        let lag_chunks: Vec<&[(i32, Vec<u8>)]> = lagging.chunks(40).collect();
        for step in 0..chunks.len().max(lag_chunks.len()) + 3 {
            if let Some(chunk) = chunks.get(step) {
                produce_partitioned(&address, "live", chunk);
            }
            if let Some(chunk) = step.checked_sub(3).and_then(|s| lag_chunks.get(s)) {
                produce_partitioned(&address, "live", chunk);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    producer.join().expect("producer");
    wait_for_committed(&broker, "live", "live", total, &daemon);
    let expected = sorted_golden();
    wait_for_delivered(&receiver, &daemon, expected.len());
    assert_eq!(delivered_once(&receiver), expected, "{}", daemon.log());
    assert_eq!(
        daemon.metric("onrust_posts_late_total") as u64,
        replay_late()
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_member_joining_and_leaving_during_a_backlog_loses_and_doubles_nothing() {
    let broker = Broker::start();
    broker.create_topic("shared", PARTITIONS as u32);
    broker.create_topic(DEAD, 1);
    let posts = keyed_by_id(PARTITIONS);
    produce_partitioned(&broker.address(), "shared", &posts);
    let one = partitioned_setup("partitions-member-1", &broker, "shared", "members", None);
    let two = partitioned_setup("partitions-member-2", &broker, "shared", "members", None);
    let first = start(&one);
    wait_until("a start on the backlog", Duration::from_secs(90), || {
        broker.committed_total("members", "shared", PARTITIONS) > 0
    });
    let second = start(&two);
    wait_until("the second member's share", Duration::from_secs(60), || {
        second.log().contains("assigned partitions")
    });
    wait_until("the second member at work", Duration::from_secs(60), || {
        second.metric("onrust_posts_total") > 0.0
    });
    let second_log = second.log.clone();
    assert_eq!(second.terminate(), Some(0));
    wait_for_committed(&broker, "members", "shared", posts.len(), &first);
    assert_eq!(first.metric("onrust_kafka_offsets_missed_total"), 0.0);
    let first_log = first.log.clone();
    assert_eq!(first.terminate(), Some(0));
    let counted_by_second = applied_in(&second_log);
    let counted_by_first = applied_in(&first_log);
    assert!(counted_by_second > 0, "the second member read a share");
    assert_eq!(
        counted_by_first + counted_by_second,
        posts.len() as u64,
        "every post counted once between the two"
    );
}

/// The messages a daemon says at shutdown it applied, from its log.
fn applied_in(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).expect("daemon log");
    text.lines()
        .find_map(|line| {
            line.strip_prefix("onrust: this run applied ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no shutdown count in the log:\n{text}"))
}

#[test]
fn a_topic_recreated_while_the_daemon_was_down_is_reported_as_an_offset_reset() {
    let broker = Broker::start();
    broker.create_topic("recreated", 2);
    broker.create_topic(DEAD, 1);
    let posts = keyed_by_id(2);
    produce_partitioned(&broker.address(), "recreated", &posts);
    let setup = partitioned_setup("partitions-reset", &broker, "recreated", "reset", None);
    let daemon = start(&setup);
    wait_for(
        &daemon,
        "the first topic read",
        Duration::from_secs(90),
        || {
            (0..2)
                .map(|p| broker.committed_on("reset", "recreated", p).unwrap_or(0))
                .sum::<i64>()
                == posts.len() as i64
        },
    );
    assert_eq!(daemon.terminate(), Some(0));
    broker.delete_topic("recreated");
    broker.create_topic("recreated", 2);
    // New posts on the new topic: fewer than the daemon had read.
    let fresh: Vec<(i32, Vec<u8>)> = posts.iter().take(50).cloned().collect();
    produce_partitioned(&broker.address(), "recreated", &fresh);
    let daemon = start(&setup);
    wait_for(
        &daemon,
        "the reset reported",
        Duration::from_secs(90),
        || daemon.metric("onrust_kafka_offset_resets_total") >= 2.0,
    );
    let log = daemon.log();
    for partition in 0..2 {
        assert!(
            log.contains(&format!(
                "recreated/{partition}: offset reset: the checkpoint's offset"
            )),
            "{log}"
        );
    }
    let (status, body) = daemon.get("/readyz").expect("readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("offset reset"), "{body}");
    // The default policy reads the new topic from its start: nothing dropped.
    wait_for(
        &daemon,
        "the new posts read",
        Duration::from_secs(60),
        || daemon.metric("onrust_posts_total") == fresh.len() as f64,
    );
    assert_eq!(daemon.terminate(), Some(0));
}
