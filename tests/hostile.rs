//! Hostile and broken input against `onrust run` on a real Tansu broker: one
//! message must never blind the daemon. Each test injects one cause and asserts
//! that the alerts still equal `replay` of the clean posts (the golden file).

use std::time::Duration;

use crate::daemon::{golden, scenario, setup, start, wait_for_delivered, DEAD};
use crate::services::{wait_until, Broker, Daemon, Receiver};

const TOPIC: &str = "posts";

/// A post dated `created_at`, in an area of the scenario, loud enough to move
/// the figures if it were counted.
fn dated(id: &str, created_at: &str) -> Vec<u8> {
    serde_json::json!({
        "id": id,
        "text": "rellen bij het station, iedereen komen!! politie weg",
        "area": "GM0017",
        "created_at": created_at,
    })
    .to_string()
    .into_bytes()
}

/// The delivered events, de-duplicated by key, against the golden ones.
fn assert_golden(receiver: &Receiver, log: &str) {
    let mut delivered = receiver.delivered();
    delivered.sort();
    delivered.dedup_by(|a, b| a.0 == b.0);
    let mut expected = golden();
    expected.sort();
    assert_eq!(delivered, expected, "{log}");
}

#[test]
fn an_oversized_message_and_posts_dated_in_the_future_change_no_alert() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DEAD, 1);
    let receiver = Receiver::start();
    let url = receiver.url();
    let setup = setup("hostile-big", &broker.address(), "big", Some(&url), "");
    let posts = scenario();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    // Over the 1 MB a producer sends by default: a dead letter that is the whole
    // message could never be written.
    let oversized = format!(
        r#"{{"id":"big","text":"{}","area":"GM0017"}}"#,
        "ruzie ".repeat(250_000)
    );
    let mut messages: Vec<Vec<u8>> = vec![dated("future-1", "2099-01-01T00:00:00Z")];
    let big_at = 1 + posts.len() / 2;
    for (index, post) in posts.iter().enumerate() {
        if index == posts.len() / 2 {
            messages.push(oversized.clone().into_bytes());
        }
        if index == 3 * posts.len() / 4 {
            messages.push(dated("future-2", &tomorrow));
        }
        messages.push(post.clone().into_bytes());
    }
    broker.produce(TOPIC, &messages);
    let daemon = start(&setup);
    wait_until("every message applied", Duration::from_secs(120), || {
        broker.committed("big", TOPIC) == Some(messages.len() as i64)
    });
    wait_for_delivered(&receiver, &daemon, golden().len());
    assert_golden(&receiver, &daemon.log());

    let dead = broker.read_all(DEAD, "onrust-reject-reason", 3);
    let reasons: Vec<Option<&str>> = dead.iter().map(|(_, r)| r.as_deref()).collect();
    assert_eq!(
        reasons,
        [
            Some("future_created_at"),
            Some("message_too_large"),
            Some("future_created_at")
        ],
        "{}",
        daemon.log()
    );
    assert_eq!(dead[0].0, messages[0], "a small dead letter goes whole");
    let record: serde_json::Value =
        serde_json::from_slice(&dead[1].0).expect("the oversized message as a JSON record");
    assert_eq!(record["offset"], big_at as i64);
    assert_eq!(record["partition"], 0);
    assert_eq!(record["bytes"], oversized.len());
    let prefix = record["prefix"].as_str().expect("a prefix");
    assert!(
        oversized.starts_with(prefix) && prefix.len() <= 1024,
        "{prefix}"
    );
    wait_until("the dead letters counted", Duration::from_secs(10), || {
        daemon.metric("onrust_dead_letters_total") == 3.0
    });
    assert_eq!(
        daemon.metric("onrust_posts_rejected_total{reason=\"future_created_at\"}"),
        2.0
    );
    assert_eq!(daemon.metric("onrust_dead_letters_waiting"), 0.0);
    assert_eq!(daemon.get("/readyz").map(|(s, _)| s), Some(200));
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_dead_letter_topic_that_refuses_holds_up_no_alert_and_gets_its_letters_later() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DEAD, 1);
    let receiver = Receiver::start();
    let url = receiver.url();
    let setup = setup(
        "hostile-dead-refused",
        &broker.address(),
        "refused",
        Some(&url),
        "",
    );
    // The topic refuses every letter while this file exists.
    let refusing = setup.dir.path().join("refusing");
    std::fs::write(&refusing, "").expect("write the failpoint's file");
    let failpoint = format!("dead-letter-refused=return({})", refusing.display());
    let daemon = Daemon::start(
        &setup.config,
        &setup.http,
        &setup.dir,
        &[
            ("ONRUST_TEST_SECRET", "test-webhook-secret"),
            ("ONRUST_TEST_TOKEN", "test-api-token"),
            ("FAILPOINTS", &failpoint),
        ],
    );
    let posts = scenario();
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for (index, post) in posts.iter().enumerate() {
        if index % 1000 == 10 {
            messages.push(format!("not json {index}").into_bytes());
        }
        messages.push(post.clone().into_bytes());
    }
    let poison = messages.len() - posts.len();
    broker.produce(TOPIC, &messages);
    wait_for_delivered(&receiver, &daemon, golden().len());
    assert_golden(&receiver, &daemon.log());
    wait_until(
        "every message applied and committed",
        Duration::from_secs(30),
        || broker.committed("refused", TOPIC) == Some(messages.len() as i64),
    );
    assert!(daemon.metric("onrust_dead_letter_failures_total") >= 1.0);
    assert_eq!(
        daemon.metric("onrust_dead_letters_waiting"),
        poison as f64,
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.get("/readyz").map(|(s, _)| s), Some(200));
    assert!(
        daemon.log().contains("refused by the failpoint"),
        "the refusal is logged: {}",
        daemon.log()
    );

    std::fs::remove_file(&refusing).expect("the topic takes letters again");
    wait_until("the letters sent", Duration::from_secs(120), || {
        daemon.metric("onrust_dead_letters_waiting") == 0.0
    });
    let dead = broker.read_all(DEAD, "onrust-reject-reason", poison);
    let mut payloads: Vec<String> = dead
        .iter()
        .map(|(payload, _)| String::from_utf8_lossy(payload).into_owned())
        .collect();
    assert_eq!(payloads.len(), poison, "each letter once: {payloads:?}");
    payloads.sort();
    payloads.dedup();
    assert_eq!(payloads.len(), poison, "{payloads:?}");
    assert!(payloads.iter().all(|p| p.starts_with("not json")));
    assert_eq!(daemon.terminate(), Some(0));
}
