//! `onrust run` against real parts on loopback: a Tansu broker, a webhook receiver,
//! an Alertmanager. The town scenario of `tests/scenarios` goes through Kafka; the
//! alerts that come out must be exactly those `onrust replay` writes for it (its
//! golden file), however the daemon is stopped, killed or kept from delivering.

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::services::{
    free_port, http_request, produce_to, wait_until, Broker, Daemon, EventStream, Receiver, Relay,
};
use crate::support::{root, stderr, TempDir};

const SECRET: &str = "test-webhook-secret";
const TOKEN: &str = "test-api-token";
const TOPIC: &str = "posts";
pub(crate) const DEAD: &str = "posts.dead";

pub(crate) fn scenario() -> Vec<String> {
    let path = root().join("tests/scenarios/incident_town.jsonl");
    std::fs::read_to_string(path)
        .expect("scenario")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The golden alert events of the scenario: `(idempotency key, body)`.
pub(crate) fn golden() -> Vec<(String, String)> {
    let path = root().join("tests/scenarios/incident_town.expected.jsonl");
    keyed_events(&std::fs::read_to_string(path).expect("golden events"))
}

/// Alert events, one JSON line each, as `(idempotency key, body)`.
pub(crate) fn keyed_events(lines: &str) -> Vec<(String, String)> {
    lines
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let key = format!(
                "{}:{}",
                event["id"].as_str().expect("id"),
                event["status"].as_str().expect("status")
            );
            (key, line.to_string())
        })
        .collect()
}

pub(crate) struct Setup {
    pub dir: TempDir,
    pub config: PathBuf,
    pub http: String,
}

/// A configuration for `broker`, `receiver` and extra TOML, in a fresh directory.
pub(crate) fn setup(
    name: &str,
    broker: &str,
    group: &str,
    webhook: Option<&str>,
    extra: &str,
) -> Setup {
    let dir = TempDir::new(name);
    let http = format!("127.0.0.1:{}", free_port());
    let areas = root().join("tests/scenarios/areas.geojson");
    let hook = webhook.map_or(String::new(), |url| {
        format!(
            "[[webhooks]]\nurl = \"{url}\"\nsecret_env = \"ONRUST_TEST_SECRET\"\nmax_backoff_ms = 2000\ntimeout_ms = 2000\n"
        )
    });
    let toml = format!(
        r#"
[areas]
file = "{areas}"

[kafka]
brokers = "{broker}"
topic = "{TOPIC}"
group = "{group}"
dead_letter_topic = "{DEAD}"

[kafka.options]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
# Tansu answers a fetch when its wait runs out (see the README).
"fetch.wait.max.ms" = "10"

[http]
listen = "{http}"
token_env = "ONRUST_TEST_TOKEN"

[state]
dir = "state"
checkpoint_interval_ms = 200

{hook}
{extra}
"#,
        areas = areas.display()
    );
    let config = dir.path().join("onrust.toml");
    std::fs::write(&config, toml).expect("write config");
    Setup { dir, config, http }
}

pub(crate) fn start(setup: &Setup) -> Daemon {
    start_with_env(setup, &[])
}

/// As [`start`], with more environment variables (`FAILPOINTS`, say).
pub(crate) fn start_with_env(setup: &Setup, env: &[(&str, &str)]) -> Daemon {
    let mut all = vec![("ONRUST_TEST_SECRET", SECRET), ("ONRUST_TEST_TOKEN", TOKEN)];
    all.extend_from_slice(env);
    Daemon::start(&setup.config, &setup.http, &setup.dir, &all)
}

impl Setup {
    /// Adds `keys` (TOML lines) to the configuration's `[section]`: the extra
    /// TOML of [`setup`] cannot, for a section it already writes.
    pub(crate) fn amend(&self, section: &str, keys: &str) {
        let header = format!("[{section}]\n");
        let config = std::fs::read_to_string(&self.config).expect("config");
        assert!(config.contains(&header), "no [{section}] in {config}");
        std::fs::write(
            &self.config,
            config.replacen(&header, &format!("{header}{keys}"), 1),
        )
        .expect("config");
    }
}

/// A broker with the input and dead-letter topics, one partition each.
pub(crate) fn broker_with_topics() -> Broker {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DEAD, 1);
    broker
}

pub(crate) fn wait_for_delivered(receiver: &Receiver, daemon: &Daemon, count: usize) {
    let limit = Duration::from_secs(90);
    let start = std::time::Instant::now();
    loop {
        let mut keys: Vec<String> = receiver.delivered().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        if keys.len() >= count {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{} of {count} alerts delivered after {limit:?}:\n{}",
            keys.len(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The README's receiver-side verification example (Python), run on a real
/// delivery: it accepts the body as signed, and refuses it changed by one byte.
fn readme_verifier_accepts(dir: &TempDir, body: &str, header: &str) {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let example = readme
        .split_once("Verifying a webhook")
        .and_then(|(_, rest)| rest.split_once("```python\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("the README's verification example");
    let script = dir.path().join("verify.py");
    std::fs::write(
        &script,
        format!(
            "{example}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\nprint(verify(b'{SECRET}', body, sys.argv[2]), verify(b'{SECRET}', body + b' ', sys.argv[2]))\n"
        ),
    )
    .expect("script");
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, body).expect("body");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&body_file)
        .arg(header)
        .output()
        .expect("python3 runs the README's example");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "True False",
        "{}",
        stderr(&output)
    );
}

fn verify_signature(body: &str, header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    header == format!("sha256={expected}")
}

#[test]
fn kafka_posts_become_signed_webhook_alerts_and_the_api_shows_them() {
    let mut broker = Broker::unstarted();
    let receiver = Receiver::start();
    let url = receiver.url();
    let setup = setup("daemon-e2e", &broker.address(), "e2e", Some(&url), "");
    let daemon = start(&setup);
    wait_until("the HTTP server", Duration::from_secs(30), || {
        daemon.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    let (status, _) = daemon.get("/readyz").expect("readyz");
    assert_eq!(status, 503, "not ready without a broker");

    broker.restart();
    // The broker is up but has no topics: the daemon says which, and waits.
    wait_until("the missing topics named", Duration::from_secs(30), || {
        let log = daemon.log();
        log.contains("kafka.topic \"posts\"")
            && log.contains("kafka.dead_letter_topic \"posts.dead\"")
    });
    assert_eq!(daemon.get("/readyz").map(|(s, _)| s), Some(503));
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DEAD, 1);
    wait_until("readiness", Duration::from_secs(60), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    let events = EventStream::open(&setup.http, "/api/v1/events");
    // Each post by its own author, so the evidence is replay's.
    let posts: Vec<String> = scenario()
        .iter()
        .map(|line| {
            let mut post: serde_json::Value = serde_json::from_str(line).expect("post");
            post["author"] = format!("raw-author-{}", post["id"].as_str().expect("id")).into();
            post.to_string()
        })
        .collect();
    broker.produce(TOPIC, &posts);
    let golden = golden();
    wait_for_delivered(&receiver, &daemon, golden.len());
    // The live stream carried the area figures and every alert change.
    wait_until(
        "alert events on the stream",
        Duration::from_secs(10),
        || {
            let text = events.text();
            text.matches("event: alert").count() == golden.len()
        },
    );
    let stream = events.text();
    assert!(stream.contains("event: areas"), "{stream}");
    assert!(stream.contains("\"GM0017\""));

    // Exactly replay's events, in replay's order, each signed and keyed.
    let received: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.status == 204)
        .collect();
    let delivered: Vec<(String, String)> = receiver.delivered();
    assert_eq!(delivered, golden, "{}", daemon.log());
    for request in &received {
        let signature = request.headers.get("x-onrust-signature").expect("signed");
        assert!(verify_signature(&request.body, signature), "bad signature");
        assert_eq!(
            request.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
    }
    readme_verifier_accepts(
        &setup.dir,
        &received[0].body,
        &received[0].headers["x-onrust-signature"],
    );

    // The API lists the resolved alerts; acknowledging needs the token.
    let (status, body) = daemon.get("/api/v1/alerts").expect("alerts");
    assert_eq!(status, 200);
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).expect("alerts JSON");
    assert_eq!(alerts.len(), 3, "{body}");
    assert!(alerts
        .iter()
        .all(|a| a["status"] == "resolved" && a["area"]["id"] == "GM0017"));
    let id = alerts[0]["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/alerts/{id}/ack");
    let refused = http_request(&setup.http, "POST", &path, &[], r#"{"by":"mallory"}"#);
    assert_eq!(refused.map(|(s, _)| s), Some(401));
    let wrong = http_request(
        &setup.http,
        "POST",
        &path,
        &[("Authorization", "Bearer wrong-token")],
        r#"{"by":"mallory"}"#,
    );
    assert_eq!(wrong.map(|(s, _)| s), Some(401));
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = http_request(
        &setup.http,
        "POST",
        &path,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        r#"{"by":"duty officer"}"#,
    )
    .expect("ack");
    assert_eq!(status, 200, "{body}");
    let acked: serde_json::Value = serde_json::from_str(&body).expect("ack JSON");
    assert_eq!(acked["acked_by"], "duty officer");
    assert!(acked["acked_at"].is_string());
    let audit = std::fs::read_to_string(setup.dir.path().join("state/audit.jsonl")).expect("audit");
    assert!(
        audit.contains(&id) && audit.contains("duty officer"),
        "{audit}"
    );
    let missing = http_request(
        &setup.http,
        "POST",
        "/api/v1/alerts/nope/ack",
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(missing.map(|(s, _)| s), Some(404));

    // Areas and metrics.
    let (_, body) = daemon.get("/api/v1/areas").expect("areas");
    let areas: Vec<serde_json::Value> = serde_json::from_str(&body).expect("areas JSON");
    let haren = areas
        .iter()
        .find(|a| a["id"] == "GM0017")
        .expect("Haren listed");
    assert_eq!(haren["windows"][0]["window"], "15m");
    wait_until("every post counted", Duration::from_secs(30), || {
        daemon.metric("onrust_posts_total") == posts.len() as f64
    });
    for name in [
        "onrust_posts_rejected_total",
        "onrust_posts_unresolved_total",
        "onrust_area_posts",
        "onrust_area_tension",
        "onrust_area_sentiment",
        "onrust_alerts_firing",
        "onrust_alert_events_total",
        "onrust_webhook_deliveries_total",
        "onrust_outbox_pending",
        "onrust_kafka_consumer_lag",
        "onrust_processing_seconds_bucket",
    ] {
        let (_, text) = daemon.get("/metrics").expect("metrics");
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert_eq!(daemon.metric("onrust_alert_events_total"), 6.0);
    assert_eq!(
        daemon.metric("onrust_alert_delivery_seconds_count"),
        6.0,
        "each alert's time from its post to the receiver"
    );
    let (_, metrics) = daemon.get("/metrics").expect("metrics");
    let (_, alerts) = daemon.get("/api/v1/alerts").expect("alerts");
    for private in ["raw-author-", SECRET, TOKEN, crate::services::AUTHOR_KEY] {
        assert!(
            !format!("{metrics}{alerts}").contains(private),
            "{private} shown"
        );
    }

    // SIGTERM: a clean exit with every offset committed.
    let log = daemon.log.clone();
    assert_eq!(daemon.terminate(), Some(0));
    assert_eq!(broker.committed("e2e", TOPIC), Some(posts.len() as i64));

    // No raw author and no secret anywhere: not in the store, the audit log or the
    // log.
    let log = std::fs::read_to_string(log).expect("daemon log");
    let state: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(setup.dir.path().join("state"))
        .expect("state dir")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("state file");
            (path, bytes)
        })
        .collect();
    for private in ["raw-author-", SECRET, TOKEN, crate::services::AUTHOR_KEY] {
        assert!(!log.contains(private), "the log holds {private}");
        for (path, bytes) in &state {
            assert!(
                !bytes
                    .windows(private.len())
                    .any(|w| w == private.as_bytes()),
                "{} holds {private}",
                path.display()
            );
        }
    }
}

#[test]
fn poison_messages_are_dead_lettered_and_the_partition_moves_on() {
    let broker = broker_with_topics();
    let setup = setup("daemon-poison", &broker.address(), "poison", None, "");
    let good = r#"{"id":"g1","text":"Rustige avond in Haren","created_at":"2026-11-29T10:00:00Z","area":"GM0017"}"#;
    let messages: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        good.as_bytes().to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"id":"x"}"#.to_vec(),
        b"{\"id\":\"u\",\"text\":\"\xff\xfe\"}".to_vec(),
        br#"{"id":"g","text":"hallo","geo":{"lat":91,"lon":5}}"#.to_vec(),
        good.replace("g1", "g2").into_bytes(),
    ];
    broker.produce(TOPIC, &messages);
    let daemon = start(&setup);
    wait_until("the partition consumed", Duration::from_secs(60), || {
        broker.committed("poison", TOPIC) == Some(messages.len() as i64)
    });
    let dead = broker.read_all(DEAD, "onrust-reject-reason", 5);
    let reasons: Vec<Option<String>> = dead.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        reasons,
        [
            "malformed_json",
            "not_an_object",
            "missing_text",
            "invalid_utf8",
            "bad_geo"
        ]
        .map(|r| Some(r.to_string())),
        "{}",
        daemon.log()
    );
    assert_eq!(dead[0].0, b"not json at all");
    assert_eq!(daemon.metric("onrust_posts_rejected_total"), 5.0);
    assert_eq!(daemon.metric("onrust_posts_total"), 2.0);
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_receiver_that_is_down_gets_every_alert_once_it_is_back() {
    let broker = broker_with_topics();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    // A short evidence retention: the API's copies lose their texts while the
    // waiting deliveries are still sent as raised.
    let retention = "[privacy]\nevidence_retention_seconds = 2\n";
    let setup = setup(
        "daemon-down",
        &broker.address(),
        "down",
        Some(&url),
        retention,
    );
    broker.produce(TOPIC, scenario());
    let daemon = start(&setup);
    // Nobody listens: alerts wait in the outbox.
    wait_until("alerts in the outbox", Duration::from_secs(60), || {
        daemon.metric("onrust_alert_events_total") == 6.0
            && daemon.metric("onrust_webhook_deliveries_total") > 0.0
    });
    assert!(daemon.metric("onrust_outbox_pending") > 0.0);
    let evidence_texts = || {
        let (_, body) = daemon.get("/api/v1/alerts").expect("alerts");
        let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).expect("alerts JSON");
        assert!(!alerts.is_empty());
        alerts
            .iter()
            .map(|a| a["evidence"]["posts"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
    };
    wait_until("evidence texts expired", Duration::from_secs(20), || {
        evidence_texts() == 0
    });
    // Back, but failing a few times more, then asking for three seconds' rest
    // (longer than the 2-second most the backoff would wait by itself).
    let receiver = Receiver::start_on(port);
    receiver.answer_next(2, 503, Duration::ZERO);
    receiver.answer_next(1, 429, Duration::ZERO);
    wait_for_delivered(&receiver, &daemon, 6);
    std::thread::sleep(Duration::from_secs(1));
    let delivered = receiver.delivered();
    assert_eq!(delivered, golden(), "each alert once, in order");
    let received = receiver.received();
    assert!(received.iter().any(|r| r.status == 503));
    let busy = received
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429");
    let rest = received[busy + 1].at - received[busy].at;
    assert!(
        rest >= Duration::from_millis(2900),
        "Retry-After: 3 honoured, waited {rest:?}"
    );
    wait_until("an empty outbox", Duration::from_secs(10), || {
        daemon.metric("onrust_outbox_pending") == 0.0
    });
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn reordered_receivers_each_get_only_their_own_waiting_alerts() {
    let broker = broker_with_topics();
    let up = Receiver::start();
    let down_port = free_port();
    let down_url = format!("http://127.0.0.1:{down_port}/hook");
    let down_hook = format!("[[webhooks]]\nurl = \"{down_url}\"\nmax_backoff_ms = 2000\n");
    let up_url = up.url();
    let setup = setup(
        "daemon-reorder",
        &broker.address(),
        "reorder",
        Some(&up_url),
        &down_hook,
    );
    broker.produce(TOPIC, scenario());
    let daemon = start(&setup);
    wait_for_delivered(&up, &daemon, 6);
    wait_until(
        "the down receiver's alerts waiting",
        Duration::from_secs(30),
        || daemon.metric("onrust_outbox_pending") == 6.0,
    );
    assert_eq!(daemon.terminate(), Some(0));

    // The same state, the receivers' order swapped in the configuration.
    let config = std::fs::read_to_string(&setup.config).expect("config");
    let up_block = config.find("[[webhooks]]").expect("first webhook");
    let down_block = config[up_block + 1..].find("[[webhooks]]").expect("second") + up_block + 1;
    let swapped = format!(
        "{}{}\n{}",
        &config[..up_block],
        &config[down_block..],
        &config[up_block..down_block]
    );
    assert!(swapped.find(&down_url) < swapped.find(&up_url), "{swapped}");
    std::fs::write(&setup.config, swapped).expect("rewrite config");
    let down = Receiver::start_on(down_port);
    let daemon = start(&setup);
    wait_for_delivered(&down, &daemon, 6);
    assert_eq!(
        down.delivered(),
        golden(),
        "its own waiting alerts, each once"
    );
    wait_until("an empty outbox", Duration::from_secs(10), || {
        daemon.metric("onrust_outbox_pending") == 0.0
    });
    assert_eq!(up.delivered(), golden(), "nothing of the other's");
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_slow_or_gone_receiver_never_holds_up_another() {
    let broker = broker_with_topics();
    let (fast, slow, gone) = (Receiver::start(), Receiver::start(), Receiver::start());
    // Slower than the 2-second timeout, three times over.
    slow.answer_next(3, 204, Duration::from_secs(4));
    // Gone for good: the first event is given up, the rest still go.
    gone.answer_next(1, 410, Duration::ZERO);
    let more = format!(
        "[[webhooks]]\nurl = \"{}\"\ntimeout_ms = 2000\nmax_backoff_ms = 2000\n\n[[webhooks]]\nurl = \"{}\"\n",
        slow.url(),
        gone.url()
    );
    let url = fast.url();
    let setup = setup("daemon-slow", &broker.address(), "slow", Some(&url), &more);
    let daemon = start(&setup);
    broker.produce(TOPIC, scenario());
    wait_for_delivered(&fast, &daemon, 6);
    let slow_when_fast_done = slow.delivered().len();
    assert!(
        slow_when_fast_done < 6,
        "the slow receiver was still timing out while the fast one had everything"
    );
    assert_eq!(fast.delivered(), golden());
    wait_for_delivered(&slow, &daemon, 6);
    let mut slow_keys: Vec<String> = slow.delivered().into_iter().map(|(k, _)| k).collect();
    slow_keys.dedup();
    assert_eq!(
        slow_keys,
        golden().into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    wait_for_delivered(&gone, &daemon, 5);
    assert_eq!(gone.delivered(), golden()[1..].to_vec());
    assert_eq!(
        daemon.metric("onrust_webhook_deliveries_total{outcome=\"failed\",sink=\"webhook-2\"}"),
        1.0
    );
    assert!(
        daemon.metric("onrust_webhook_deliveries_total{outcome=\"retried\",sink=\"webhook-1\"}")
            >= 3.0
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn the_broker_going_away_mid_stream_and_back_loses_and_repeats_nothing() {
    let relay_port = free_port();
    let broker = Broker::start_behind(relay_port);
    let relay = Relay::start(relay_port, &broker.address());
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DEAD, 1);
    let receiver = Receiver::start();
    let url = receiver.url();
    let setup = setup("daemon-outage", &relay.address(), "outage", Some(&url), "");
    let daemon = start(&setup);
    let posts = scenario();
    let (first_half, second_half) = posts.split_at(posts.len() / 2);
    produce_to(&relay.address(), TOPIC, first_half);
    wait_until("the first half counted", Duration::from_secs(60), || {
        daemon.metric("onrust_posts_total") == first_half.len() as f64
    });
    assert_eq!(daemon.get("/readyz").map(|(s, _)| s), Some(200));

    // The broker goes away: every connection cut, new ones refused.
    relay.cut();
    wait_until("/readyz to say not ready", Duration::from_secs(30), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 503)
    });
    // Longer than the session timeout (6 s): the group forgets the member.
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        daemon.log().contains("Connection refused"),
        "the log says why: {}",
        daemon.log()
    );
    assert_eq!(
        daemon.get("/healthz").map(|(s, _)| s),
        Some(200),
        "alive all along"
    );

    relay.restore();
    wait_until(
        "/readyz to say ready again",
        Duration::from_secs(60),
        || daemon.get("/readyz").is_some_and(|(s, _)| s == 200),
    );
    produce_to(&relay.address(), TOPIC, second_half);
    wait_for_delivered(&receiver, &daemon, golden().len());
    wait_until("every post counted", Duration::from_secs(60), || {
        daemon.metric("onrust_posts_total") == posts.len() as f64
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        daemon.metric("onrust_posts_total"),
        posts.len() as f64,
        "none twice"
    );
    assert_eq!(receiver.delivered(), golden(), "{}", daemon.log());
    assert_eq!(daemon.terminate(), Some(0));
    assert_eq!(broker.committed("outage", TOPIC), Some(posts.len() as i64));
}

#[test]
fn a_second_daemon_joining_and_leaving_the_group_loses_and_repeats_nothing() {
    let broker = Broker::start();
    broker.create_topic("shared", 2);
    broker.create_topic(DEAD, 1);
    let posts = scenario();
    let (first_half, second_half) = posts.split_at(posts.len() / 2);
    let one = setup("daemon-group-1", &broker.address(), "group", None, "");
    let two = setup("daemon-group-2", &broker.address(), "group", None, "");
    for setup in [&one, &two] {
        let config = std::fs::read_to_string(&setup.config).expect("config");
        std::fs::write(
            &setup.config,
            config.replace("topic = \"posts\"", "topic = \"shared\""),
        )
        .expect("config");
    }
    let committed = |partition| {
        broker
            .committed_on("group", "shared", partition)
            .unwrap_or(0)
    };
    let first = start(&one);
    crate::services::produce_spread(&broker.address(), "shared", first_half, 2);
    wait_until("the first half consumed", Duration::from_secs(60), || {
        committed(0) + committed(1) == first_half.len() as i64
    });
    // A second member joins: the partitions are shared out between the two.
    let second = start(&two);
    wait_until("the second member's share", Duration::from_secs(60), || {
        second.log().contains("assigned")
    });
    crate::services::produce_spread(&broker.address(), "shared", second_half, 2);
    wait_until("the second half consumed", Duration::from_secs(60), || {
        committed(0) + committed(1) == posts.len() as i64
    });
    let counted_by_second = second.metric("onrust_posts_total");
    // It leaves: the first member takes everything back.
    assert_eq!(second.terminate(), Some(0));
    let counted_by_first = first.metric("onrust_posts_total");
    assert!(counted_by_second > 0.0, "{}", first.log());
    assert_eq!(
        counted_by_first + counted_by_second,
        posts.len() as f64,
        "every post counted once between the two:\n{}",
        first.log()
    );
    assert_eq!(first.terminate(), Some(0));
}

#[test]
fn sigkill_and_restart_lose_no_alert_and_count_no_post_twice() {
    let broker = broker_with_topics();
    let posts = scenario();
    broker.produce(TOPIC, &posts);

    // Straight through: the reference figures.
    let straight = setup("daemon-straight", &broker.address(), "straight", None, "");
    let daemon = start(&straight);
    wait_until("the straight run", Duration::from_secs(60), || {
        broker.committed("straight", TOPIC) == Some(posts.len() as i64)
    });
    let reference = areas(&daemon);
    assert_eq!(daemon.terminate(), Some(0));

    // The same posts on a second topic, trickling in while the daemon is killed
    // with SIGKILL at random moments, three times.
    let receiver = Receiver::start();
    let url = receiver.url();
    broker.create_topic("trickle", 1);
    let crashing = setup("daemon-crash", &broker.address(), "crash", Some(&url), "");
    let config = std::fs::read_to_string(&crashing.config).expect("config");
    std::fs::write(
        &crashing.config,
        config.replace("topic = \"posts\"", "topic = \"trickle\""),
    )
    .expect("config");
    let address = broker.address();
    let trickle = posts.clone();
    let producer = std::thread::spawn(move || {
        for chunk in trickle.chunks(200) {
            crate::services::produce_one_per_batch(&address, "trickle", chunk);
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let mut rng = fastrand::Rng::with_seed(7);
    let mut daemon = start(&crashing);
    let mut last = None;
    let mut committed_at_kills = Vec::new();
    for _ in 0..3 {
        wait_until("progress", Duration::from_secs(60), || {
            let now = broker.committed("crash", "trickle");
            now.is_some() && now != last
        });
        last = broker.committed("crash", "trickle");
        committed_at_kills.push(last.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(rng.u64(0..300)));
        daemon.kill();
        daemon = start(&crashing);
    }
    producer.join().expect("producer");
    wait_until("the crashing run", Duration::from_secs(90), || {
        broker.committed("crash", "trickle") == Some(posts.len() as i64)
    });
    assert!(
        committed_at_kills[0] < posts.len() as i64,
        "the first kill came before the end of the stream: {committed_at_kills:?}"
    );
    wait_for_delivered(&receiver, &daemon, 6);
    // The reference: the same topic read straight through by another group, so
    // that both runs see the very same messages in the very same order.
    let straight_trickle = setup(
        "daemon-trickle",
        &broker.address(),
        "trickle-straight",
        None,
        "",
    );
    let config = std::fs::read_to_string(&straight_trickle.config).expect("config");
    std::fs::write(
        &straight_trickle.config,
        config.replace("topic = \"posts\"", "topic = \"trickle\""),
    )
    .expect("config");
    let reader = start(&straight_trickle);
    wait_until(
        "the straight read of the trickle",
        Duration::from_secs(60),
        || broker.committed("trickle-straight", "trickle") == Some(posts.len() as i64),
    );
    let trickle_reference = areas(&reader);
    assert_eq!(reader.terminate(), Some(0));
    // Every figure is exact, the baselines (which remember every hour) too.
    assert_eq!(
        areas(&daemon),
        trickle_reference,
        "the same figures: no post lost or counted twice"
    );
    assert_eq!(daemon.metric("onrust_kafka_offsets_missed_total"), 0.0);
    // A de-duplicating receiver sees each event once, with replay's body.
    let mut delivered = receiver.delivered();
    delivered.dedup();
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup_by(|a, b| a.0 == b.0);
    let mut expected = golden();
    expected.sort();
    assert_eq!(unique, expected, "{}", daemon.log());
    assert_eq!(daemon.terminate(), Some(0));

    // A crash between writing a checkpoint and committing its offsets: the broker
    // hands those posts out again, and the restart must skip them. The first half
    // of the posts comes before the crash, and the crash comes at the checkpoint
    // of shutdown, once all of them are applied: the checkpoint holds all of them
    // whatever the speed of this machine.
    broker.create_topic("gap", 1);
    let (before, after) = posts.split_at(posts.len() / 2);
    // One message per batch: Tansu 0.6 answers ListOffsets with the last batch's
    // base offset plus one, and the restart checks its checkpoint against that end.
    crate::services::produce_one_per_batch(&broker.address(), "gap", before);
    let gap = setup("daemon-gap", &broker.address(), "gap", None, "");
    let edit = |path: &std::path::Path, from: &str, to: &str| {
        let text = std::fs::read_to_string(path).expect("config");
        assert!(text.contains(from), "{from} in {}", path.display());
        std::fs::write(path, text.replace(from, to)).expect("config");
    };
    edit(&gap.config, "topic = \"posts\"", "topic = \"gap\"");
    let crashing_config = gap.dir.path().join("crashing.toml");
    std::fs::copy(&gap.config, &crashing_config).expect("config");
    edit(
        &crashing_config,
        "checkpoint_interval_ms = 200",
        "checkpoint_interval_ms = 3600000",
    );
    let crashing = Daemon::start(
        &crashing_config,
        &gap.http,
        &gap.dir,
        &[
            ("ONRUST_TEST_TOKEN", TOKEN),
            ("FAILPOINTS", "checkpoint-before-commit=return"),
        ],
    );
    wait_until("the first half applied", Duration::from_secs(60), || {
        crashing.metric("onrust_posts_total") + crashing.metric("onrust_posts_rejected_total")
            == before.len() as f64
    });
    let crash_log = crashing.log();
    assert_eq!(
        crashing.terminate(),
        None,
        "aborted at the final checkpoint"
    );
    assert_eq!(
        broker.committed("gap", "gap"),
        None,
        "crashed before committing"
    );
    let daemon = start(&gap);
    // Every message the broker hands out again is skipped, and nothing new comes:
    // the restart must still commit what its checkpoint holds.
    let waited = std::time::Instant::now();
    while daemon.metric("onrust_posts_skipped_total") != before.len() as f64 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{} of {} skipped:\n{}",
            daemon.metric("onrust_posts_skipped_total"),
            before.len(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        daemon.log().contains(&format!(
            "restored the checkpoint of gap/0@{}",
            before.len()
        )),
        "the crash came after the whole first half:\n{crash_log}\nrestarted:\n{}",
        daemon.log()
    );
    wait_until(
        "the commit of the restored checkpoint",
        Duration::from_secs(60),
        || broker.committed("gap", "gap") == Some(before.len() as i64),
    );
    broker.produce("gap", after);
    wait_until("the restarted run", Duration::from_secs(60), || {
        broker.committed("gap", "gap") == Some(posts.len() as i64)
    });
    assert_eq!(areas(&daemon), reference, "the same figures after the gap");
    assert_eq!(daemon.terminate(), Some(0));
}

/// `/api/v1/areas`, once the daemon has published its latest checkpoint.
pub(crate) fn areas(daemon: &Daemon) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_until("stable area figures", Duration::from_secs(20), || {
        let now = daemon
            .get("/api/v1/areas")
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or(serde_json::Value::Null);
        let stable = now == last && now.as_array().is_some_and(|a| !a.is_empty());
        last = now;
        stable
    });
    last
}

#[test]
fn alerts_reach_alertmanager_with_our_labels_and_resolve_there() {
    let am_dir = TempDir::new("alertmanager");
    let am_port = free_port();
    let am_config = am_dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
    )
    .expect("write alertmanager config");
    let mut alertmanager = std::process::Command::new("prometheus-alertmanager")
        .args([
            &format!("--config.file={}", am_config.display()),
            &format!("--storage.path={}", am_dir.path().display()),
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus-alertmanager (tests/run.sh installs it)");
    let am = format!("127.0.0.1:{am_port}");
    wait_until("Alertmanager", Duration::from_secs(30), || {
        http_request(&am, "GET", "/-/ready", &[], "").is_some_and(|(s, _)| s == 200)
    });
    let broker = broker_with_topics();
    let extra = format!("[alertmanager]\nurl = \"http://{am}\"\n");
    let setup = setup("daemon-am", &broker.address(), "am", None, &extra);
    let posts = scenario();
    // Up to 21:40, when the warning fires and nothing has resolved yet.
    let split = posts
        .iter()
        .position(|p| created_at(p) >= 1_795_988_400_000)
        .expect("posts after 21:40");
    broker.produce(TOPIC, &posts[..split]);
    let daemon = start(&setup);
    let labelled = |state: &str| {
        let Some((200, body)) = http_request(&am, "GET", "/api/v2/alerts", &[], "") else {
            return Vec::new();
        };
        let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        alerts
            .into_iter()
            .filter(|a| a["labels"]["area"] == "GM0017" && a["status"]["state"] == state)
            .collect::<Vec<_>>()
    };
    wait_until(
        "the warning in Alertmanager",
        Duration::from_secs(60),
        || {
            labelled("active")
                .iter()
                .any(|a| a["labels"]["alertname"] == "tension_elevated")
        },
    );
    let warning = labelled("active")
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "tension_elevated")
        .expect("warning");
    assert_eq!(warning["labels"]["severity"], "warning");
    assert_eq!(warning["labels"]["area_name"], "Haren");
    assert!(warning["labels"]["onrust_id"].is_string());
    broker.produce(TOPIC, &posts[split..]);
    wait_until(
        "the warning resolved in Alertmanager",
        Duration::from_secs(60),
        || labelled("active").is_empty(),
    );
    assert_eq!(daemon.terminate(), Some(0));
    let _ = alertmanager.kill();
    let _ = alertmanager.wait();
}

/// A post line's `created_at` (epoch ms; the scenarios write numbers).
fn created_at(line: &str) -> i64 {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["created_at"].as_i64())
        .unwrap_or(0)
}

#[test]
fn a_bad_configuration_exits_2_naming_the_key() {
    let dir = TempDir::new("daemon-config");
    for (toml, key) in [
        ("[kafka]\nbrokerz = \"x\"\n", "brokerz"),
        ("[http]\nlisten = \"not an address\"\n", "http.listen"),
        ("[[webhooks]]\nurl = \"ftp://x\"\n", "webhooks[0].url"),
        (
            "[[webhooks]]\nurl = \"http://x\"\nsecret_env = \"ONRUST_TEST_UNSET\"\n",
            "webhooks[0].secret_env",
        ),
        (
            "[state]\ncheckpoint_interval_ms = 0\n",
            "state.checkpoint_interval_ms",
        ),
        (
            "[kafka]\ntopic = \"a\"\ndead_letter_topic = \"a\"\n",
            "kafka.dead_letter_topic",
        ),
        (
            "[kafka.options_env]\n\"sasl.password\" = \"ONRUST_TEST_UNSET\"\n",
            "kafka.options_env.sasl.password",
        ),
        ("[http]\nprotect_reads = true\n", "http.protect_reads"),
        (
            "[http]\nprotect_reads = \"yes\"\ntoken_env = \"ONRUST_AUTHOR_KEY\"\n",
            "http.protect_reads",
        ),
        ("[[webhooks]]\nurl = \"http://[::1\"\n", "webhooks[0].url"),
        (
            "[[webhooks]]\nurl = \"http://a:b:c:d/\"\n",
            "webhooks[0].url",
        ),
        ("[state]\ndir = \"onrust.toml\"\n", "state.dir"),
        ("[model]\ndir = \"no-such-models\"\n", "model.dir"),
        (
            "[areas]\nfile = \"bow-tie.geojson\"\n",
            "crosses itself so that its parts cancel out",
        ),
        (
            "[privacy]\nauthor_key_env = \"ONRUST_TEST_UNSET\"\n",
            "privacy.author_key_env: the environment variable ONRUST_TEST_UNSET is not set",
        ),
        (
            "[privacy]\nauthor_key_env = \"ONRUST_TEST_SHORT_KEY\"\n",
            "the author key has 9 bytes; at least 16 are needed",
        ),
    ] {
        let output = check_config(&dir, toml);
        assert_eq!(output.status.code(), Some(2), "{toml}");
        assert!(stderr(&output).contains(key), "{toml}: {}", stderr(&output));
    }
    let output = check_config(&dir, "");
    assert!(output.status.success(), "{}", stderr(&output));
}

/// `onrust run --check-config` on a file holding `toml`, with an author key in
/// `ONRUST_AUTHOR_KEY` and a short one in `ONRUST_TEST_SHORT_KEY`.
fn check_config(dir: &TempDir, toml: &str) -> std::process::Output {
    std::fs::write(
        dir.path().join("bow-tie.geojson"),
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},
            "geometry":{"type":"Polygon","coordinates":[[[5,52],[6,53],[6,52],[5,53],[5,52]]]}}]}"#,
    )
    .expect("write areas");
    let config = dir.path().join("onrust.toml");
    std::fs::write(&config, toml).expect("write config");
    crate::support::onrust()
        .args([
            "run",
            "--check-config",
            "--config",
            &config.display().to_string(),
        ])
        .env("ONRUST_AUTHOR_KEY", crate::services::AUTHOR_KEY)
        .env("ONRUST_TEST_SHORT_KEY", "too short")
        .output()
        .expect("run onrust")
}

#[test]
fn a_second_daemon_on_the_same_state_directory_is_refused_by_name() {
    // No broker is needed: the first daemon waits for one, holding its store.
    let broker = Broker::unstarted();
    let one = setup("daemon-lock", &broker.address(), "lock", None, "");
    let first = start(&one);
    wait_until("the first daemon", Duration::from_secs(30), || {
        first.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    let config = std::fs::read_to_string(&one.config).expect("config");
    let other_port = format!("127.0.0.1:{}", free_port());
    let second_config = one.dir.path().join("second.toml");
    std::fs::write(&second_config, config.replace(&one.http, &other_port)).expect("config");
    let output = crate::support::onrust()
        .args(["run", "--config", &second_config.display().to_string()])
        .env("ONRUST_TEST_TOKEN", TOKEN)
        .env("ONRUST_TEST_SECRET", SECRET)
        .env("ONRUST_AUTHOR_KEY", crate::services::AUTHOR_KEY)
        .output()
        .expect("run the second daemon");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("in use by another onrust"),
        "{}",
        stderr(&output)
    );
}
