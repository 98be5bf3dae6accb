//! Hostile and broken input against `onrust run` on a real Tansu broker: one
//! message must never blind the daemon. Each test injects one cause and asserts
//! that the alerts still equal `replay` of the clean posts (the golden file).

use std::time::Duration;

use crate::daemon::{
    broker_with_topics, golden, keyed_events, scenario, setup, start, start_with_env,
    wait_for_delivered, Setup, DEAD,
};
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

/// A broker with both topics, a webhook receiver, and a daemon's configuration
/// for them (`name` its directory, `group` its consumer group, `extra` TOML).
fn with_receiver(name: &str, group: &str, extra: &str) -> (Broker, Receiver, Setup) {
    let broker = broker_with_topics();
    let receiver = Receiver::start();
    let setup = setup(name, &broker.address(), group, Some(&receiver.url()), extra);
    (broker, receiver, setup)
}

/// `FAILPOINTS` for the daemon's failpoint `name`, active while the file it
/// returns exists (it is created here): remove the file to end the fault.
fn failpoint_while_file(setup: &Setup, name: &str) -> (std::path::PathBuf, String) {
    let file = setup.dir.path().join(name);
    std::fs::write(&file, "").expect("write the failpoint's file");
    let failpoint = format!("{name}=return({})", file.display());
    (file, failpoint)
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
    let (broker, receiver, setup) = with_receiver("hostile-big", "big", "");
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
    let (broker, receiver, setup) = with_receiver("hostile-dead-refused", "refused", "");
    // The topic refuses every letter while this file exists.
    let (refusing, failpoint) = failpoint_while_file(&setup, "dead-letter-refused");
    let daemon = start_with_env(&setup, &[("FAILPOINTS", &failpoint)]);
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
    // One more than sent is asked for, so that a letter sent twice shows.
    let dead = broker.read_within(
        DEAD,
        "onrust-reject-reason",
        poison + 1,
        Duration::from_secs(10),
    );
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

#[test]
fn posts_sent_again_count_once_across_a_sigkill() {
    let (broker, receiver, setup) = with_receiver("hostile-resent", "resent", "");
    let posts = scenario();
    let (first, second) = posts.split_at(posts.len() / 2);
    // Every fourth post five times over, as a retrying collector (or an
    // attacker) would send it.
    let with_copies = |half: &[String]| -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let mut copies = 0;
        for (index, post) in half.iter().enumerate() {
            out.push(post.clone());
            if index % 4 == 0 {
                out.extend(std::iter::repeat_n(post.clone(), 4));
                copies += 4;
            }
        }
        (out, copies)
    };
    let (before, copies_before) = with_copies(first);
    broker.produce(TOPIC, &before);
    let daemon = start(&setup);
    wait_until("the first half applied", Duration::from_secs(60), || {
        broker.committed("resent", TOPIC) == Some(before.len() as i64)
    });
    assert_eq!(
        daemon.metric("onrust_posts_duplicate_total"),
        copies_before as f64
    );
    // The offsets are committed after the checkpoint: the seen ids are in it.
    daemon.kill();
    // After the restart, the posts of the last half hour before the kill come
    // again (a producer replaying its buffer), then the rest with their copies.
    let created_at = |post: &String| {
        serde_json::from_str::<serde_json::Value>(post).expect("JSON")["created_at"]
            .as_i64()
            .expect("epoch ms")
    };
    let last = first.iter().map(created_at).max().expect("posts");
    let replayed: Vec<String> = first
        .iter()
        .filter(|post| created_at(post) >= last - 30 * 60_000)
        .cloned()
        .collect();
    assert!(replayed.len() >= 10, "{}", replayed.len());
    let (after, copies_after) = with_copies(second);
    broker.produce(TOPIC, &replayed);
    broker.produce(TOPIC, &after);
    let daemon = start(&setup);
    let total = before.len() + replayed.len() + after.len();
    wait_until("everything applied", Duration::from_secs(90), || {
        broker.committed("resent", TOPIC) == Some(total as i64)
    });
    wait_for_delivered(&receiver, &daemon, golden().len());
    assert_golden(&receiver, &daemon.log());
    assert_eq!(
        daemon.metric("onrust_posts_duplicate_total"),
        (replayed.len() + copies_after) as f64,
        "the restart remembers the posts seen before it: {}",
        daemon.log()
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_flood_of_made_up_area_ids_flushes_out_no_area_of_the_file() {
    // Room for 500 areas beside the file's: ten times as many made-up ids come.
    let (broker, receiver, setup) =
        with_receiver("hostile-areas", "areas", "[signal]\nmax_areas = 500\n");
    let posts = scenario();
    // Two hours before the incident's first alert: the town's baseline is what
    // the flood would wipe out.
    let first_alert = golden()
        .iter()
        .map(|(_, body)| {
            let event: serde_json::Value = serde_json::from_str(body).expect("JSON");
            chrono::DateTime::parse_from_rfc3339(event["starts_at"].as_str().expect("starts_at"))
                .expect("RFC 3339")
                .timestamp_millis()
        })
        .min()
        .expect("alerts");
    let flood_at = first_alert - 2 * 3_600_000;
    let mut flooded = false;
    let mut messages: Vec<String> = Vec::new();
    for post in &posts {
        messages.push(post.clone());
        let at = serde_json::from_str::<serde_json::Value>(post).expect("JSON")["created_at"]
            .as_i64()
            .expect("epoch ms");
        if at >= flood_at && !flooded {
            flooded = true;
            messages.extend((0..5_000).map(|n| {
                serde_json::json!({
                    "id": format!("flood-{n}"),
                    "text": "gewoon een berichtje",
                    "area": format!("FAKE{n:05}"),
                    "created_at": at,
                })
                .to_string()
            }));
        }
    }
    // The reference: replay of the same posts with room for every area (the
    // made-up posts do count in the country's figures, as any post does).
    let file = setup.dir.path().join("flood.jsonl");
    std::fs::write(&file, messages.join("\n") + "\n").expect("write the posts");
    let config = crate::support::root().join("tests/scenarios/onrust.toml");
    let replayed = crate::support::run(
        &[
            "replay",
            "--config",
            &config.display().to_string(),
            &file.display().to_string(),
        ],
        b"",
    );
    assert!(replayed.status.success());
    let mut expected = keyed_events(&String::from_utf8_lossy(&replayed.stdout));
    expected.sort();
    assert_eq!(expected.len(), golden().len());

    broker.produce(TOPIC, &messages);
    let daemon = start(&setup);
    wait_until("every message applied", Duration::from_secs(120), || {
        broker.committed("areas", TOPIC) == Some(messages.len() as i64)
    });
    wait_for_delivered(&receiver, &daemon, expected.len());
    let mut delivered = receiver.delivered();
    delivered.sort();
    delivered.dedup_by(|a, b| a.0 == b.0);
    assert_eq!(delivered, expected, "{}", daemon.log());
    assert!(
        daemon.metric("onrust_areas_evicted_total") >= 4_000.0,
        "the made-up areas were forgotten, not the file's"
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_group_member_without_partitions_is_not_ready_after_its_grace() {
    let broker = broker_with_topics();
    let first = setup("hostile-member-1", &broker.address(), "members", None, "");
    let second = setup("hostile-member-2", &broker.address(), "members", None, "");
    for member in [&first, &second] {
        member.amend("kafka", "unassigned_grace_seconds = 2\n");
    }
    let one = start(&first);
    wait_until("the first member ready", Duration::from_secs(60), || {
        one.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    // One partition, two members: the second has nothing to read.
    let two = start(&second);
    wait_until("the idle member not ready", Duration::from_secs(90), || {
        two.get("/readyz")
            .is_some_and(|(s, body)| s == 503 && body.contains("no partition assigned"))
    });
    assert_eq!(
        one.get("/readyz").map(|(s, _)| s),
        Some(200),
        "{}",
        one.log()
    );
    // The first leaves: the partition moves over, and the second is ready.
    assert_eq!(one.terminate(), Some(0));
    wait_until("the second member ready", Duration::from_secs(90), || {
        two.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(two.terminate(), Some(0));
}

/// The status line of `GET path` (an event stream never ends: only its first
/// line is read).
fn status_line(address: &str, path: &str) -> String {
    use std::io::{BufRead, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("write");
    let mut line = String::new();
    let _ = std::io::BufReader::new(stream).read_line(&mut line);
    line
}

/// Sends `head` (a request line and headers, no body) and reads what comes back
/// within five seconds.
fn raw_request(address: &str, head: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn writes_need_the_token_before_the_body_and_come_from_the_same_site_as_json() {
    let broker = Broker::unstarted();
    let setup = setup("hostile-http", &broker.address(), "http", None, "");
    let daemon = start(&setup);
    wait_until("the HTTP server", Duration::from_secs(30), || {
        daemon.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    let path = "/api/v1/alerts/nope/ack";
    let request = |headers: &[(&str, &str)], body: &str| {
        crate::services::http_request(&setup.http, "POST", path, headers, body).map(|(s, _)| s)
    };
    let bearer = "Bearer test-api-token";
    // A body announced but never sent: without the token it is refused at once,
    // not waited for.
    let unfinished = raw_request(
        &setup.http,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Connection: close\r\nContent-Length: 5000000\r\n\r\n",
            setup.http
        ),
    );
    assert!(unfinished.starts_with("HTTP/1.1 401"), "{unfinished}");
    // The scheme's case does not matter; past the checks, the alert is unknown.
    let json = ("Content-Type", "application/json");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let authorization = format!("{scheme} test-api-token");
        assert_eq!(
            request(&[("Authorization", &authorization), json], r#"{"by":"x"}"#),
            Some(404),
            "{scheme}"
        );
    }
    // What a cross-site page can send without asking: refused.
    let plain = ("Content-Type", "text/plain");
    assert_eq!(
        request(&[("Authorization", bearer), plain], r#"{"by":"x"}"#),
        Some(415)
    );
    let evil = ("Origin", "http://evil.example");
    assert_eq!(
        request(&[("Authorization", bearer), json, evil], r#"{"by":"x"}"#),
        Some(403)
    );
    let same_origin = format!("http://{}", setup.http);
    assert_eq!(
        request(
            &[("Authorization", bearer), json, ("Origin", &same_origin)],
            r#"{"by":"x"}"#
        ),
        Some(404)
    );
    let huge = format!(r#"{{"by":"{}"}}"#, "x".repeat(100_000));
    assert_eq!(
        request(&[("Authorization", bearer), json], &huge),
        Some(413)
    );
    // The dashboard may not be framed by another site.
    let page = raw_request(
        &setup.http,
        &format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            setup.http
        ),
    );
    assert!(page.contains("frame-ancestors 'none'"), "{page}");
    assert!(page.to_ascii_lowercase().contains("x-frame-options: deny"));
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_full_disk_stops_checkpoints_until_there_is_room_and_loses_no_alert() {
    let (broker, receiver, setup) = with_receiver("hostile-disk-full", "full", "");
    setup.amend("state", "unhealthy_after_seconds = 3\n");
    // Every checkpoint fails as on a full disk while this file exists.
    let (full, failpoint) = failpoint_while_file(&setup, "store-full");
    let daemon = start_with_env(&setup, &[("FAILPOINTS", &failpoint)]);
    broker.produce(TOPIC, scenario());
    wait_until(
        "not ready, with the reason",
        Duration::from_secs(60),
        || {
            daemon
                .get("/readyz")
                .is_some_and(|(s, body)| s == 503 && body.contains("checkpoints have failed"))
        },
    );
    wait_until("unhealthy for liveness", Duration::from_secs(30), || {
        daemon.get("/healthz").is_some_and(|(s, _)| s == 503)
    });
    assert_eq!(broker.committed("full", TOPIC), None, "nothing committed");
    assert!(
        receiver.delivered().is_empty(),
        "no alert before its checkpoint"
    );

    std::fs::remove_file(&full).expect("room again");
    wait_until("healthy and ready again", Duration::from_secs(60), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
            && daemon.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    wait_for_delivered(&receiver, &daemon, golden().len());
    assert_golden(&receiver, &daemon.log());
    assert!(
        daemon.log().contains("reopened the store"),
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn an_empty_or_corrupt_store_is_refused_by_name_until_reset_state() {
    let broker = Broker::unstarted();
    let setup = setup("hostile-store", &broker.address(), "store", None, "");
    let state = setup.dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let store = state.join("onrust.redb");
    for damage in [&b""[..], &[0xA5; 20_000][..]] {
        std::fs::write(&store, damage).expect("a broken store");
        let output = crate::support::onrust()
            .args(["run", "--config", &setup.config.display().to_string()])
            .env("ONRUST_AUTHOR_KEY", crate::services::AUTHOR_KEY)
            .env("ONRUST_TEST_TOKEN", "test-api-token")
            .output()
            .expect("run onrust");
        let error = crate::support::stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{error}");
        assert!(
            error.contains("onrust.redb cannot be used")
                && error.contains("--reset-state")
                && !error.contains("panicked"),
            "{error}"
        );
    }
    let daemon = Daemon::start_with(
        &setup.config,
        &setup.http,
        &setup.dir,
        &[("ONRUST_TEST_TOKEN", "test-api-token")],
        &["--reset-state"],
    );
    wait_until("started afresh", Duration::from_secs(30), || {
        daemon.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    assert!(
        daemon.log().contains("--reset-state: moved"),
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn idle_and_greedy_clients_and_other_hosts_cannot_take_the_http_server() {
    use std::io::Read;
    let broker = Broker::unstarted();
    let setup = setup("hostile-http-limits", &broker.address(), "limits", None, "");
    setup.amend(
        "http",
        "max_connections_per_client = 5\nidle_timeout_seconds = 2\nmax_event_clients = 2\n",
    );
    let daemon = start(&setup);
    wait_until("the HTTP server", Duration::from_secs(30), || {
        daemon.get("/healthz").is_some_and(|(s, _)| s == 200)
    });
    let closed = |stream: &mut std::net::TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut byte = [0u8; 1];
        matches!(stream.read(&mut byte), Ok(0) | Err(_))
    };
    // Five idle connections are all one client may hold: a sixth is closed at once.
    let mut idle: Vec<std::net::TcpStream> = (0..5)
        .map(|_| std::net::TcpStream::connect(&setup.http).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut sixth = std::net::TcpStream::connect(&setup.http).expect("connect");
    let started = std::time::Instant::now();
    assert!(closed(&mut sixth), "the sixth connection is closed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "at once, not when idle"
    );
    // The idle ones are closed after the idle timeout, and the server answers.
    for stream in &mut idle {
        assert!(closed(stream), "an idle connection is closed");
    }
    assert_eq!(daemon.get("/healthz").map(|(s, _)| s), Some(200));
    assert!(daemon.metric("onrust_http_connections_refused_total") >= 1.0);
    // Two event-stream clients at most.
    let first = crate::services::EventStream::open(&setup.http, "/api/v1/events");
    let second = crate::services::EventStream::open(&setup.http, "/api/v1/events");
    wait_until("two event clients", Duration::from_secs(10), || {
        first.text().contains("event: areas") && second.text().contains("event: areas")
    });
    let third = status_line(&setup.http, "/api/v1/events");
    assert!(third.contains(" 503 "), "{third}");
    // A request for another host (a DNS name rebound to 127.0.0.1) is refused.
    let rebound = raw_request(
        &setup.http,
        "GET /api/v1/alerts HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n",
    );
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    // Probes and scrapes address a pod by its IP: they pass whatever the host.
    let probe = raw_request(
        &setup.http,
        "GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:8080\r\nConnection: close\r\n\r\n",
    );
    assert!(probe.starts_with("HTTP/1.1 200"), "{probe}");
    let by_name = raw_request(
        &setup.http,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(by_name.starts_with("HTTP/1.1 200"), "{by_name}");
    assert_eq!(daemon.terminate(), Some(0));
}
