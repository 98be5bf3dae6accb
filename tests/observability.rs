//! The platform team's view: the Grafana dashboard's queries and the alerting
//! rules of `deploy/`, run by a real Prometheus (Debian's `prometheus`) scraping a
//! running daemon, as Grafana would ask it.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::services::{free_port, http_request, wait_until, Broker, Daemon, Receiver};
use crate::support::{root, TempDir};

/// Every PromQL expression of the shipped Grafana dashboard.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/grafana/onrust.json"))
        .expect("deploy/grafana/onrust.json");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|target| target["expr"].as_str().map(str::to_string))
        .collect();
    assert!(queries.len() >= 8, "{queries:?}");
    queries
}

/// The `onrust_…` metric names an expression reads (histogram suffixes removed).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("onrust_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        names.push(
            name.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
                .to_string(),
        );
        rest = &tail[end..];
    }
    names
}

fn query(prometheus: &str, expr: &str) -> Value {
    let encoded: String = expr
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, body) = http_request(
        prometheus,
        "GET",
        &format!("/api/v1/query?query={encoded}"),
        &[],
        "",
    )
    .expect("Prometheus answers");
    assert_eq!(status, 200, "{expr}: {body}");
    serde_json::from_str(&body).expect("Prometheus JSON")
}

#[test]
fn every_grafana_query_returns_data_through_a_real_prometheus() {
    let broker = Broker::start();
    broker.create_topic("posts", 1);
    broker.create_topic("posts.dead", 1);
    let receiver = Receiver::start();
    let dir = TempDir::new("observability");
    let http = format!("127.0.0.1:{}", free_port());
    let config = crate::services::daemon_config(
        &dir,
        &broker,
        &http,
        &format!("\n[[webhooks]]\nurl = \"{}\"\n", receiver.url()),
    );
    let daemon = Daemon::start(&config, &http, &dir, &[]);
    let posts = std::fs::read_to_string(root().join("tests/scenarios/incident_town.jsonl"))
        .expect("scenario");
    broker.produce("posts", posts.lines().chain(["not a post"]));
    wait_until("the alerts delivered", Duration::from_secs(60), || {
        receiver.delivered().len() >= 6
    });

    // Every metric the dashboard reads is exported.
    let (_, exported) = daemon.get("/metrics").expect("metrics");
    for expr in dashboard_queries() {
        for name in metric_names(&expr) {
            assert!(
                exported.contains(&format!("\n{name}")),
                "{name} (in {expr}) is not exported"
            );
        }
    }

    // A real Prometheus scrapes the daemon every second with the shipped rules.
    let prometheus_port = free_port();
    let prometheus = format!("127.0.0.1:{prometheus_port}");
    let prometheus_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: onrust\n    static_configs:\n      - targets: [\"{http}\"]\n",
            root().join("deploy/prometheus/onrust-rules.yml").display()
        ),
    )
    .expect("prometheus config");
    let mut server = Command::new("prometheus")
        .args([
            &format!("--config.file={}", prometheus_config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address={prometheus}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus (tests/run.sh installs it)");
    wait_until("scrapes of the daemon", Duration::from_secs(60), || {
        http_request(&prometheus, "GET", "/-/ready", &[], "").is_some_and(|(s, _)| s == 200)
            && query(&prometheus, "count_over_time(up{job=\"onrust\"}[1m])")["data"]["result"][0]
                ["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|n| n >= 4.0)
    });
    for expr in dashboard_queries() {
        let answer = query(&prometheus, &expr);
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!result.is_empty(), "no data for {expr}");
    }
    // The shipped alerting rules loaded, and the daemon is up.
    let (_, rules) = http_request(&prometheus, "GET", "/api/v1/rules", &[], "").expect("rules");
    assert!(
        rules.contains("OnrustDown") && rules.contains("OnrustOutboxBacklog"),
        "{rules}"
    );
    let up = query(&prometheus, "up{job=\"onrust\"}");
    assert_eq!(up["data"]["result"][0]["value"][1], "1");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn promtool_accepts_the_shipped_prometheus_files() {
    for args in [
        vec!["check", "rules", "deploy/prometheus/onrust-rules.yml"],
        vec!["check", "config", "deploy/prometheus/prometheus.yml"],
    ] {
        let output = Command::new("promtool")
            .args(&args)
            .current_dir(root())
            .output()
            .expect("run promtool (tests/run.sh installs prometheus)");
        assert!(
            output.status.success(),
            "promtool {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
