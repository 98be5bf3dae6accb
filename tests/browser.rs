//! The dashboard in a real headless browser (Debian's chromium, driven through
//! chromedriver's WebDriver API): it loads without console errors, draws every
//! area, shows an alert raised by the pipeline without a reload, and
//! acknowledging works with the token and is refused without it. A screenshot is
//! saved to `target/artifacts/dashboard.png`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::services::{free_port, wait_until, Broker};
use crate::support::{root, TempDir};

/// A chromedriver process and one browser session, both ended when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Browser {
    fn start(profile: &TempDir) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (tests/run.sh installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let client = reqwest::Client::new();
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            runtime,
            client,
        };
        wait_until("chromedriver", Duration::from_secs(30), || {
            browser.call("GET", "/status", None).is_some()
        });
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1600,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session = browser
            .call("POST", "/session", Some(capabilities))
            .expect("a browser session");
        browser.session = session["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`, or `None` when it failed.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body.unwrap_or(json!({}))),
        };
        self.runtime.block_on(async {
            let response = request.send().await.ok()?;
            let ok = response.status().is_success();
            let value: Value = response.json().await.ok()?;
            ok.then(|| value["value"].clone())
        })
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})))
            .expect("navigate");
    }

    /// Runs `script` in the page; its return value.
    fn run(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .unwrap_or(Value::Null)
    }

    fn wait_for(&self, what: &str, script: &str) {
        wait_until(what, Duration::from_secs(60), || {
            self.run(script) == Value::Bool(true)
        });
    }

    /// The browser console's messages at level SEVERE.
    fn console_errors(&self) -> Vec<String> {
        let log = self
            .command("POST", "/se/log", Some(json!({"type": "browser"})))
            .unwrap_or(Value::Null);
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let data = self
            .command("GET", "/screenshot", None)
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("PNG");
        std::fs::create_dir_all(path.parent().expect("folder")).expect("artifacts folder");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn the_dashboard_shows_areas_and_live_alerts_and_acknowledges_with_the_token() {
    let broker = Broker::start();
    broker.create_topic("posts", 1);
    broker.create_topic("posts.dead", 1);
    let dir = TempDir::new("browser");
    let http = format!("127.0.0.1:{}", free_port());
    let config =
        crate::services::daemon_config(&dir, &broker, &http, "token_env = \"ONRUST_TEST_TOKEN\"\n");
    let daemon = crate::services::Daemon::start(
        &config,
        &http,
        &dir,
        &[("ONRUST_TEST_TOKEN", "browser-token")],
    );
    wait_until("readiness", Duration::from_secs(60), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    let profile = TempDir::new("chromium-profile");
    let browser = Browser::start(&profile);
    browser.open(&format!("http://{http}/"));
    browser.wait_for(
        "the map with every area, live",
        "return document.querySelectorAll('#map [data-id]').length === 5 && document.getElementById('status').textContent === 'LIVE';",
    );
    // Marks this page load: a reload would lose it.
    browser.run("window.loadedOnce = true; return true;");

    let posts = std::fs::read_to_string(root().join("tests/scenarios/incident_town.jsonl"))
        .expect("scenario");
    broker.produce("posts", posts.lines());
    browser.wait_for(
        "the alerts in the list",
        "return document.querySelectorAll('[data-alert]').length === 3;",
    );
    assert_eq!(
        browser.run("return window.loadedOnce === true;"),
        Value::Bool(true)
    );
    let labels = browser.run("return document.querySelector('#alerts').textContent;");
    assert!(
        labels.as_str().is_some_and(|t| t.contains("WARNING")
            && t.contains("CRITICAL")
            && t.contains("Haren")),
        "{labels}"
    );

    let errors = browser.console_errors();
    assert!(
        errors.is_empty(),
        "console errors on load and update: {errors:?}"
    );

    // Without the token: refused, and the alert stays unacknowledged.
    browser.run("document.querySelector('[data-alert] .ack button').click(); return true;");
    browser.wait_for(
        "the refusal",
        "return document.querySelector('[data-alert] .refused') !== null;",
    );
    let (_, body) = daemon.get("/api/v1/alerts").expect("alerts");
    let alerts: Vec<Value> = serde_json::from_str(&body).expect("JSON");
    assert!(alerts.iter().all(|a| a["acked_by"].is_null()));

    // With the token: acknowledged, and the card says who and when.
    browser.run(
        "const t = document.getElementById('token'); t.value = 'browser-token'; t.dispatchEvent(new Event('change')); document.querySelector('[data-alert] .ack button').click(); return true;",
    );
    browser.wait_for(
        "the acknowledgement",
        "return document.querySelector('[data-alert]').textContent.includes('Acknowledged by operator');",
    );
    let (_, body) = daemon.get("/api/v1/alerts").expect("alerts");
    let alerts: Vec<Value> = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a["acked_by"] == "operator")
            .count(),
        1
    );

    // The area view draws its charts.
    browser.run("document.querySelector('#map [data-id=\"GM0017\"]').dispatchEvent(new MouseEvent('click')); return true;");
    browser.wait_for(
        "the area view",
        "return document.getElementById('area-view').classList.contains('open') && document.querySelectorAll('#chart-tension polyline').length === 1;",
    );
    browser.screenshot(&root().join("target/artifacts/dashboard.png"));
    // The refused acknowledgement is the one failed request the console reports.
    let errors = browser.console_errors();
    assert!(
        errors
            .iter()
            .all(|e| e.contains("/ack") && e.contains("401")),
        "console errors: {errors:?}"
    );

    // The daemon goes away: the page says so; it comes back: the page reconnects
    // by itself, still without a reload.
    assert_eq!(daemon.terminate(), Some(0));
    browser.wait_for(
        "the disconnected banner",
        "return document.getElementById('status').textContent.startsWith('DISCONNECTED');",
    );
    let restarted = crate::services::Daemon::start(
        &config,
        &http,
        &dir,
        &[("ONRUST_TEST_TOKEN", "browser-token")],
    );
    browser.wait_for(
        "the reconnection",
        "return document.getElementById('status').textContent === 'LIVE' && window.loadedOnce === true && document.querySelectorAll('[data-alert]').length === 3;",
    );
    drop(restarted);
    // While the daemon was away its requests failed at the network level; no
    // script error broke the page.
    let errors = browser.console_errors();
    assert!(
        errors.iter().all(|e| e.contains("net::ERR_")),
        "console errors: {errors:?}"
    );
}

#[test]
fn a_daemon_that_protects_reads_shows_nothing_until_the_token_is_entered() {
    let broker = Broker::start();
    broker.create_topic("posts", 1);
    broker.create_topic("posts.dead", 1);
    let dir = TempDir::new("browser-protected");
    let http = format!("127.0.0.1:{}", free_port());
    let config = crate::services::daemon_config(
        &dir,
        &broker,
        &http,
        "token_env = \"ONRUST_TEST_TOKEN\"\nprotect_reads = true\n",
    );
    let daemon = crate::services::Daemon::start(
        &config,
        &http,
        &dir,
        &[("ONRUST_TEST_TOKEN", "read-token")],
    );
    wait_until("readiness", Duration::from_secs(60), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    // The page and the probes stay open; the data and the metrics need the token.
    for open in ["/", "/healthz", "/readyz"] {
        assert_eq!(daemon.get(open).map(|(s, _)| s), Some(200), "{open}");
    }
    for closed in [
        "/metrics",
        "/api/v1/areas",
        "/api/v1/alerts",
        "/api/v1/geometry",
        "/api/v1/events",
    ] {
        assert_eq!(daemon.get(closed).map(|(s, _)| s), Some(401), "{closed}");
        let bearer = [("Authorization", "Bearer read-token")];
        if closed != "/api/v1/events" {
            let answer = crate::services::http_request(&http, "GET", closed, &bearer, "");
            assert_eq!(answer.map(|(s, _)| s), Some(200), "{closed} with the token");
        }
    }
    let stream =
        crate::services::EventStream::open(&http, "/api/v1/events?access_token=read-token");
    wait_until(
        "the events stream with the token",
        Duration::from_secs(10),
        || stream.text().contains("event: areas"),
    );
    let wrong = crate::services::EventStream::open(&http, "/api/v1/events?access_token=wrong");
    wait_until("a refusal", Duration::from_secs(10), || {
        wrong.text().contains("401")
    });

    let profile = TempDir::new("chromium-profile-protected");
    let browser = Browser::start(&profile);
    browser.open(&format!("http://{http}/"));
    browser.wait_for(
        "the token field asking for the token",
        "return document.getElementById('token').classList.contains('needed') && document.querySelectorAll('#map [data-id]').length === 0;",
    );
    browser.run(
        "const t = document.getElementById('token'); t.value = 'read-token'; t.dispatchEvent(new Event('change')); return true;",
    );
    browser.wait_for(
        "the map, live, once the token is in",
        "return document.querySelectorAll('#map [data-id]').length === 5 && document.getElementById('status').textContent === 'LIVE' && !document.getElementById('token').classList.contains('needed');",
    );
}
