//! `onrust replay` on the scenarios of `tests/scenarios` (written by its
//! `generate.py`): each output must equal its golden `.expected.jsonl`, byte for
//! byte; each incident must raise the alerts an operations room needs and each decoy
//! none above `info`. Refresh the golden files after a deliberate change with
//! `ONRUST_BLESS=1 cargo test --release --test integration replay`.

use std::path::{Path, PathBuf};

use crate::support::{json_lines, root, run, stderr, TempDir};

fn scenarios() -> PathBuf {
    root().join("tests/scenarios")
}

/// `onrust replay` of a scenario with the scenarios' configuration.
fn replay_command(scenario: &str) -> std::process::Command {
    let config = scenarios().join("onrust.toml");
    let input = scenarios().join(format!("{scenario}.jsonl"));
    let mut command = crate::support::onrust();
    command.args([
        "replay",
        "--config",
        &config.display().to_string(),
        &input.display().to_string(),
    ]);
    command
}

/// `onrust replay --config CONFIG INPUT`, whatever its outcome.
fn replay_with(config: &Path, input: &Path) -> std::process::Output {
    let (config, input) = (config.display().to_string(), input.display().to_string());
    run(&["replay", "--config", &config, &input], b"")
}

/// Replays `lines` (the town scenario with something added) into `dir`, and
/// checks that the alerts are the town's golden ones; returns the output and the
/// dead-letter file.
fn replay_as_the_town(dir: &TempDir, lines: &[impl AsRef<str>]) -> (std::process::Output, PathBuf) {
    let input = dir.path().join("posts.jsonl");
    let text: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    std::fs::write(&input, text.join("\n") + "\n").expect("write input");
    let dead = dir.path().join("dead.jsonl");
    let output = replay_with_dead_letters(&input, &dead);
    let golden =
        std::fs::read(scenarios().join("incident_town.expected.jsonl")).expect("golden file");
    assert!(
        output.stdout == golden,
        "the alerts are not the town's:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    (output, dead)
}

/// `onrust replay` of `input` with the scenarios' configuration, rejected lines
/// to `dead`; it must succeed.
fn replay_with_dead_letters(input: &Path, dead: &Path) -> std::process::Output {
    let config = scenarios().join("onrust.toml");
    let output = run(
        &[
            "replay",
            "--config",
            &config.display().to_string(),
            "--dead-letters",
            &dead.display().to_string(),
            &input.display().to_string(),
        ],
        b"",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn replay(scenario: &str) -> std::process::Output {
    let output = replay_command(scenario)
        .output()
        .expect("run onrust replay");
    assert!(output.status.success(), "{scenario}: {}", stderr(&output));
    output
}

/// Compares with the golden file, or writes it when blessing.
fn check_golden(scenario: &str, output: &[u8]) {
    let golden = scenarios().join(format!("{scenario}.expected.jsonl"));
    if std::env::var_os("ONRUST_BLESS").is_some() {
        std::fs::write(&golden, output).expect("write golden file");
        return;
    }
    let expected = std::fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    assert!(
        expected == output,
        "{scenario}: replay output differs from {}\n--- expected\n{}\n--- actual\n{}",
        golden.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(output)
    );
}

/// (rule, status) of every event.
fn rules(output: &std::process::Output) -> Vec<(String, String, String)> {
    json_lines(output)
        .iter()
        .map(|e| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (text(&e["area"]["id"]), text(&e["rule"]), text(&e["status"]))
        })
        .collect()
}

fn severities(output: &std::process::Output) -> Vec<String> {
    json_lines(output)
        .iter()
        .map(|e| e["severity"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_town_build_up_escalates_from_warning_to_critical_and_resolves() {
    let output = replay("incident_town");
    check_golden("incident_town", &output.stdout);
    let events = json_lines(&output);
    let first = |rule: &str| {
        events
            .iter()
            .find(|e| e["rule"] == rule && e["status"] == "firing" && e["area"]["id"] == "GM0017")
            .unwrap_or_else(|| panic!("no {rule} in {:?}", rules(&output)))
    };
    let (warning, critical) = (first("tension_elevated"), first("tension_critical"));
    assert!(warning["starts_at"].as_str() < critical["starts_at"].as_str());
    assert_eq!(critical["severity"], "critical");
    assert!(!warning["evidence"]["posts"]
        .as_array()
        .expect("posts")
        .is_empty());
    assert!(
        warning["evidence"]["posts"][0].get("author").is_none(),
        "authors are never shown"
    );
    let resolved = events
        .iter()
        .find(|e| e["id"] == warning["id"] && e["status"] == "resolved")
        .expect("the warning resolves");
    assert!(resolved["ends_at"].is_string());
    assert!(
        rules(&output).iter().all(|(area, ..)| area == "GM0017"),
        "{:?}",
        rules(&output)
    );
}

#[test]
fn a_city_incident_is_not_hidden_by_its_volume() {
    let output = replay("incident_city");
    check_golden("incident_city", &output.stdout);
    assert!(
        rules(&output).contains(&("GM0599".into(), "tension_elevated".into(), "firing".into())),
        "{:?}",
        rules(&output)
    );
}

#[test]
fn decoys_raise_nothing_above_info() {
    for decoy in [
        "decoy_match",
        "decoy_sad_news",
        "decoy_national_wave",
        "decoy_angry_handful",
    ] {
        let output = replay(decoy);
        check_golden(decoy, &output.stdout);
        assert!(
            severities(&output).iter().all(|s| s == "info"),
            "{decoy}: {:?}",
            rules(&output)
        );
    }
}

#[test]
fn the_same_replay_twice_is_byte_identical() {
    let (first, second) = (replay("incident_town"), replay("incident_town"));
    assert!(!first.stdout.is_empty());
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn rejected_lines_go_to_the_dead_letter_file_with_their_reason() {
    let dir = TempDir::new("replay-dead-letters");
    let input = dir.path().join("posts.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"1\",\"text\":\"hallo\",\"area\":\"x\",\"created_at\":1}\n[1]\n{\"id\":\"2\"}\n\n",
    )
    .expect("write input");
    let dead = dir.path().join("dead.jsonl");
    let output = replay_with_dead_letters(&input, &dead);
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .expect("dead letters written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let reasons: Vec<(u64, &str)> = letters
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap_or(0),
                l["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(reasons, [(2, "not_an_object"), (3, "missing_text")]);
    assert!(
        stderr(&output).contains("2 rejected"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn posts_dated_in_the_future_are_rejected_and_the_alerts_stay_those_of_the_clean_file() {
    let dir = TempDir::new("replay-future");
    let clean = std::fs::read_to_string(scenarios().join("incident_town.jsonl")).expect("scenario");
    let lines: Vec<&str> = clean.lines().collect();
    // 2099 as the very first line, a year typed wrong mid-stream, and a run of
    // three forward-dated posts in a row (accomplices do not carry each other).
    let year_2099 = 4_070_908_800_000_i64;
    let future = |n: usize, at: i64| {
        format!(
            r#"{{"id":"future-{n}","text":"rellen bij het station, iedereen komen!","area":"GM0014","created_at":{at}}}"#
        )
    };
    let mut hostile = vec![future(0, year_2099)];
    let mut injected = 1;
    for (index, line) in lines.iter().enumerate() {
        hostile.push((*line).to_string());
        if index % 997 == 500 {
            let at: i64 = serde_json::from_str::<serde_json::Value>(line).expect("JSON")
                ["created_at"]
                .as_i64()
                .expect("epoch ms");
            for k in 0..3 {
                hostile.push(future(injected, at + 365 * 24 * 3_600_000 + k));
                injected += 1;
            }
        }
    }
    let (output, dead) = replay_as_the_town(&dir, &hostile);
    let letters = std::fs::read_to_string(&dead).expect("dead letters written");
    let reasons: Vec<String> = letters
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["reason"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(reasons.len(), injected, "{letters}");
    assert!(
        reasons.iter().all(|r| r == "future_created_at"),
        "{reasons:?}"
    );
    assert!(
        stderr(&output).contains(&format!("{injected} rejected")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn posts_sent_again_count_once() {
    let dir = TempDir::new("replay-duplicates");
    let clean = std::fs::read_to_string(scenarios().join("incident_town.jsonl")).expect("scenario");
    let mut resent = Vec::new();
    let mut copies = 0;
    for (index, line) in clean.lines().enumerate() {
        resent.push(line);
        // Every third post again at once, every seventh again a little later.
        if index % 3 == 0 {
            resent.extend([line; 4]);
            copies += 4;
        }
        if index >= 40 && (index - 40) % 7 == 0 {
            resent.push(clean.lines().nth(index - 40).expect("an earlier post"));
            copies += 1;
        }
    }
    let (output, _) = replay_as_the_town(&dir, &resent);
    assert!(
        stderr(&output).contains(&format!("{copies} duplicates")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn area_ids_the_areas_file_lacks_can_be_left_unresolved() {
    let dir = TempDir::new("replay-unknown-areas");
    let areas = scenarios().join("areas.geojson");
    let config = dir.path().join("onrust.toml");
    let input = dir.path().join("posts.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"1\",\"text\":\"hallo\",\"area\":\"FAKE1\",\"created_at\":1}\n\
         {\"id\":\"2\",\"text\":\"hallo\",\"area\":\"GM0017\",\"created_at\":2}\n",
    )
    .expect("write input");
    for (policy, summary) in [
        ("track", "2 posts in areas, 0 unresolved"),
        ("unresolved", "1 posts in areas, 1 unresolved"),
    ] {
        std::fs::write(
            &config,
            format!(
                "[areas]\nfile = \"{}\"\n[signal]\nunknown_areas = \"{policy}\"\n",
                areas.display()
            ),
        )
        .expect("write config");
        let output = replay_with(&config, &input);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stderr(&output).contains(summary),
            "{policy}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_bad_configuration_key_is_named_with_exit_code_2() {
    let dir = TempDir::new("replay-bad-config");
    let config = dir.path().join("onrust.toml");
    let input = dir.path().join("posts.jsonl");
    std::fs::write(&input, "").expect("write input");
    for (toml, named) in [
        (
            "[signal]\nwindow_minutes = [15]\n",
            "unknown field `window_minutes`",
        ),
        (
            "[signal]\ntension_threshold = 1.5\n",
            "signal.tension_threshold",
        ),
        ("[[webhooks]]\nurl = \"ftp://x\"\n", "webhooks[0].url"),
        (
            "[signal]\nmax_future_minutes = 0\n",
            "signal.max_future_minutes",
        ),
        ("[signal]\nunknown_areas = \"drop\"\n", "unknown_areas"),
        ("[areas]\nfile = \"missing.geojson\"\n", "areas.file"),
    ] {
        std::fs::write(&config, toml).expect("write config");
        let output = replay_with(&config, input.as_ref());
        assert_eq!(output.status.code(), Some(2), "{toml}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(named),
            "{toml}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn an_empty_configuration_is_valid() {
    let dir = TempDir::new("replay-empty-config");
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").expect("write config");
    let input: &Path = &scenarios().join("decoy_angry_handful.jsonl");
    let output = replay_with(&config, input);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn environment_overrides_keys_but_secrets_are_not_keys() {
    let replay_with = |name: &str, value: &str| {
        replay_command("decoy_angry_handful")
            .env(name, value)
            .output()
            .expect("run onrust")
    };
    let overridden = replay_with("ONRUST_SIGNAL__TENSION_THRESHOLD", "3");
    assert_eq!(overridden.status.code(), Some(2));
    assert!(
        stderr(&overridden).contains("signal.tension_threshold: 3"),
        "{}",
        stderr(&overridden)
    );
    let secret = replay_with("ONRUST_AUTHOR_KEY", "not-a-config-key");
    assert!(secret.status.success(), "{}", stderr(&secret));
}
