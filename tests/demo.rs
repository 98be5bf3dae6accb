//! `onrust demo`, sped up: with no Kafka and no configuration it serves the
//! dashboard and, from its built-in firehose, raises a warning and then a
//! critical alert for Haren, and nothing above info anywhere else.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::services::{free_port, http_request};
use crate::support::onrust;

#[test]
fn the_demo_builds_up_to_a_critical_alert_in_haren_only() {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = onrust()
        .args(["demo", "--speed", "240", "--seed", "3", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start onrust demo");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(90) {
        match received.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let has = |severity: &str| {
            seen.iter()
                .any(|l| l.contains(severity) && l.contains("firing") && l.contains("Haren"))
        };
        if has("WARNING") && has("CRITICAL") {
            break;
        }
    }
    let (status, areas) = http_request(&listen, "GET", "/api/v1/areas", &[], "").expect("API");
    let (page_status, page) = http_request(&listen, "GET", "/", &[], "").expect("dashboard");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen[0].contains(&format!("http://{listen}")),
        "prints the URL: {seen:?}"
    );
    let firing = |severity: &str| {
        seen.iter()
            .filter(|l| l.contains(severity) && l.contains("firing"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let warnings = firing("WARNING");
    let criticals = firing("CRITICAL");
    assert!(!warnings.is_empty() && !criticals.is_empty(), "{seen:#?}");
    assert!(
        warnings
            .iter()
            .chain(&criticals)
            .all(|l| l.contains("Haren")),
        "only Haren escalates: {seen:#?}"
    );
    let first = |needle: &str| seen.iter().position(|l| l.contains(needle));
    assert!(
        first("WARNING") < first("CRITICAL"),
        "warning first: {seen:#?}"
    );
    assert_eq!(status, 200);
    let areas: Vec<serde_json::Value> = serde_json::from_str(&areas).expect("areas JSON");
    assert_eq!(areas.len(), 12);
    assert_eq!(page_status, 200);
    assert!(page.contains("operations room"));
}
