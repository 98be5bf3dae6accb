//! `onrust score`: one line in, one JSON line out, whatever the line holds.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::{json_lines, onrust, run, stderr, TempDir};

#[test]
fn scores_every_line_with_the_contract_fields_in_range() {
    let output = run(
        &["score"],
        "Iedereen vanavond naar het plein, neem stenen mee!!\nWat een heerlijke dag in het park 😊\nthey are smashing up the shops on our high street right now\n".as_bytes(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let sentiment = line["sentiment"].as_f64().expect("sentiment is a number");
        let tension = line["tension"].as_f64().expect("tension is a number");
        assert!((-1.0..=1.0).contains(&sentiment), "{line}");
        assert!((0.0..=1.0).contains(&tension), "{line}");
        assert!(
            ["neg", "neu", "pos"].contains(&line["label"].as_str().expect("label")),
            "{line}"
        );
    }
    assert_eq!(lines[0]["lang"], "nl");
    assert_eq!(lines[2]["lang"], "en");
    assert!(lines[0]["tension"].as_f64() > Some(0.5), "{}", lines[0]);
    assert!(lines[1]["tension"].as_f64() < Some(0.5), "{}", lines[1]);
    assert_eq!(lines[1]["label"], "pos");
    assert!(lines[2]["tension"].as_f64() > Some(0.5), "{}", lines[2]);
}

#[test]
fn bad_lines_get_an_error_line_and_the_stream_goes_on() {
    let mut input = b"goed zo\n\n".to_vec();
    input.extend_from_slice(b"\xff\xfe broken utf-8\n");
    input.extend_from_slice(b"last line without newline");
    let output = run(&["score"], &input);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4, "one output line per input line");
    assert!(lines[0]["tension"].is_number());
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().expect("error").contains("empty"));
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[2]["error"].as_str().expect("error").contains("UTF-8"));
    assert!(lines[3]["tension"].is_number());
}

#[test]
fn jsonl_posts_keep_their_id_and_lang_hint() {
    let input = concat!(
        r#"{"id": "17", "text": "everyone to the square tonight", "lang": "nl"}"#,
        "\n",
        r#"{"id": 18, "text": "iedereen naar het plein"}"#,
        "\n",
        r#"{"text": ""}"#,
        "\n",
        r#"not json"#,
        "\n",
        r#"{"id": "19"}"#,
        "\n",
    );
    let output = run(&["score", "--jsonl"], input.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 5);
    assert_eq!(
        (lines[0]["id"].as_str(), lines[0]["lang"].as_str()),
        (Some("17"), Some("nl"))
    );
    assert_eq!(
        (lines[1]["id"].as_i64(), lines[1]["lang"].as_str()),
        (Some(18), Some("nl"))
    );
    for (index, expected) in [(2, "empty"), (3, "not a post"), (4, "not a post")] {
        assert_eq!(lines[index]["line"], index + 1);
        assert!(
            lines[index]["error"]
                .as_str()
                .expect("error")
                .contains(expected),
            "{}",
            lines[index]
        );
    }
}

/// Peak resident memory of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in proc status")
}

#[test]
fn memory_does_not_grow_with_the_number_of_lines() {
    let mut child = onrust()
        .arg("score")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start onrust score");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let scored = Arc::new(AtomicUsize::new(0));
    let reader = {
        let scored = Arc::clone(&scored);
        std::thread::spawn(move || {
            for line in stdout.lines() {
                line.expect("read result");
                scored.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let posts = [
        "Iedereen vanavond naar het plein #ProjectX 🔥",
        "wat een mooie dag vandaag",
        "they are burning cars on my street",
        "deze pizza is echt bom 😍",
    ];
    let mut sent = 0usize;
    // Sends `count` more lines and waits until (all but a buffer's worth) are scored.
    let mut send = |count: usize| {
        for _ in 0..count {
            writeln!(stdin, "{} w{sent}x", posts[sent % posts.len()]).expect("write post");
            sent += 1;
        }
        stdin.flush().expect("flush");
        while scored.load(Ordering::Relaxed) + 4096 < sent {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    send(20_000);
    let warm = peak_rss_kib(child.id());
    send(400_000);
    let after = peak_rss_kib(child.id());
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    reader.join().expect("reader");
    assert_eq!(scored.load(Ordering::Relaxed), 420_000);
    // Every line has a new word, so a cache that is not bounded grows with the input
    // (by about 125 MiB here, seen by disabling the bound); the bounded caches of the
    // two languages grow by about 20 MiB.
    assert!(
        after < warm + 32 * 1024,
        "peak memory grew from {warm} KiB to {after} KiB"
    );
}

#[test]
fn score_with_a_model_directory_that_has_no_model_is_a_usage_error() {
    let dir = TempDir::new("empty-model-dir");
    let output = run(
        &["score", "--model", &dir.path().display().to_string()],
        b"x\n",
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no onrust.model"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn corrupt_model_file_is_a_clear_error_not_a_panic() {
    let dir = TempDir::new("corrupt-model");
    let model = std::fs::read(crate::support::root().join("models/nl/onrust.model"))
        .expect("shipped model");
    let mut damaged = model.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x01;
    std::fs::write(dir.path().join("onrust.model"), &damaged).expect("write damaged model");
    let output = run(
        &["score", "--model", &dir.path().display().to_string()],
        b"x\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("damaged"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));

    std::fs::write(dir.path().join("onrust.model"), &model[..model.len() / 3])
        .expect("write truncated model");
    let output = run(
        &["score", "--model", &dir.path().display().to_string()],
        b"x\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("model"), "{}", stderr(&output));
}

#[test]
fn model_in_the_wrong_language_folder_is_refused() {
    let dir = TempDir::new("mismatched-model");
    std::fs::create_dir_all(dir.path().join("en")).expect("mkdir");
    std::fs::copy(
        crate::support::root().join("models/nl/onrust.model"),
        dir.path().join("en/onrust.model"),
    )
    .expect("copy model");
    let output = run(
        &["score", "--model", &dir.path().display().to_string()],
        b"x\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("model is for language nl, expected en"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn every_command_says_what_it_reads_writes_and_returns() {
    for (command, words) in [
        ("score", ["standard input", "standard output", "JSON"]),
        ("train", ["Reads", "Writes", "summary"]),
        ("eval", ["Reads", "Prints", "JSON"]),
    ] {
        let output = run(&[command, "--help"], b"");
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        for word in words {
            assert!(
                help.contains(word),
                "`onrust {command} --help` lacks {word:?}:\n{help}"
            );
        }
    }
}

#[test]
fn unknown_flags_are_usage_errors() {
    let output = run(&["score", "--no-such-flag"], b"");
    assert_eq!(output.status.code(), Some(2));
    let output = run(
        &[
            "train", "--data", "x.jsonl", "--out", "y", "--lang", "dutch",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("ISO 639-1"), "{}", stderr(&output));
}
