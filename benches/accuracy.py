#!/usr/bin/env python3
"""Accuracy and speed of onrust next to fastText (and VADER), on identical splits.

Run from the repository root:   python3 benches/accuracy.py
Prints one Markdown report and writes it to target/bench/accuracy.md.

Steps:
  1. models/prepare_data.py writes the splits to target/data; cargo builds onrust.
  2. Per task, onrust (`onrust train` + `onrust eval`) and fastText (trained on the
     same train file, one model per label) are scored on the same test file; metrics
     for fastText and VADER are computed here exactly as `onrust eval` computes them.
     Then the shipped (built-in) models, and HateCheck-NL (evaluation only).
  3. Speed on one core (taskset -c 0) over a 200,000-post nl/en mix, peak memory
     over 1,000,000 posts, model file sizes.
  4. Language identification on tests/fixtures/langid.jsonl and the seed test splits.
Any failing step raises, so the script exits non-zero.
Needs: Python 3 standard library, fasttext, vaderSentiment.
"""

import collections
import datetime
import json
import os
import random
import subprocess
import sys
import time
from importlib.metadata import version

import fasttext
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
DATA = "target/data"
TASKS = f"{DATA}/tasks"
BENCH = "target/bench"
ONRUST = "target/release/onrust"
LEXICON = {"en": "../shared/data/lexicons/vader_lexicon.txt",
           "nl": "../shared/data/lexicons/pattern-nl-sentiment.xml"}
LANGID_FIXTURE = "tests/fixtures/langid.jsonl"
SEED = 20261128  # fixed: the speed mix and fastText are the same on every run
# The class set of each label, as `onrust eval` names them; macro = mean over all of them.
CLASSES = {"sentiment": ["neg", "neu", "pos"], "tension": ["0", "1"]}
# (task, title, language, labels): each has TASKS/<task>-train.jsonl and -test.jsonl.
SIDE_BY_SIDE = [
    ("sentiment", "TweetEval sentiment", "en", ["sentiment"]),
    ("offensive", "TweetEval offensive", "en", ["tension"]),
    ("hate", "TweetEval hate", "en", ["tension"]),
    ("nl-seed", "NL seed", "nl", ["sentiment", "tension"]),
    ("en-seed", "EN seed", "en", ["sentiment", "tension"]),
]
SHIPPED_ON = [("EN seed test", f"{DATA}/en-seed-test.jsonl"), ("NL seed test", f"{DATA}/nl-seed-test.jsonl"),
              ("TweetEval sentiment test", f"{TASKS}/sentiment-test.jsonl"),
              ("TweetEval offensive test", f"{TASKS}/offensive-test.jsonl"),
              ("TweetEval hate test", f"{TASKS}/hate-test.jsonl")]
SPEED_POSTS = 200_000   # half Dutch, half English
MEMORY_REPEATS = 5      # the mix 5 times = 1,000,000 posts for peak memory


# --- helpers -------------------------------------------------------------------------
def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def one_line(text):
    """A post as one line: fastText and `onrust score` (plain) read one post per line."""
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


def label_of(row, label):
    """The row's label as a class name ("neg"/"neu"/"pos" or "0"/"1"); None if absent."""
    return None if row.get(label) is None else str(row[label])


def run(cmd, **kwargs):
    """Runs a command; raises on a non-zero exit. Returns its stdout as text."""
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kwargs).stdout


def onrust_score(texts, jsonl_lang=None):
    """`onrust score` over the texts; one output dict per text, in order. Plain text
    lines (language detection) or, with jsonl_lang, `--jsonl` with that lang given."""
    if jsonl_lang is None:
        stdin, args = "".join(one_line(t) + "\n" for t in texts), []
    else:
        stdin = "".join(json.dumps({"id": str(i), "text": t, "lang": jsonl_lang}, ensure_ascii=False) + "\n"
                        for i, t in enumerate(texts))
        args = ["--jsonl"]
    out = [json.loads(line) for line in run([ONRUST, "score", *args], input=stdin).splitlines() if line]
    assert len(out) == len(texts) and not any("error" in o for o in out), "onrust score failed on a post"
    return out


def report(truth, predicted, classes):
    """Same definitions as `onrust eval` (crates/model/src/metrics.rs): per class
    precision = TP / predicted as the class, recall = TP / support, F1 their harmonic
    mean, each 0 when its denominator is 0; macro = unweighted mean over `classes`."""
    per = {}
    for c in classes:
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        n_pred = sum(1 for p in predicted if p == c)
        support = sum(1 for t in truth if t == c)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return {"examples": len(truth),
            "accuracy": sum(1 for t, p in zip(truth, predicted) if t == p) / len(truth),
            "macro_f1": sum(r["f1"] for r in per.values()) / len(classes),
            "macro_recall": sum(r["recall"] for r in per.values()) / len(classes),
            "classes": per}


def fasttext_train(train_file, label, name):
    """fastText on the rows of train_file that carry `label`, as `__label__X text` lines."""
    path = f"{BENCH}/fasttext/{name}-{label}.txt"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in read(train_file):
            if label_of(row, label) is not None:
                f.write(f"__label__{label_of(row, label)} {one_line(row['text'])}\n")
    # thread=1 (with fastText's fixed default seed) makes training deterministic.
    return fasttext.train_supervised(input=path, wordNgrams=2, epoch=25, lr=0.5, minCount=1,
                                     verbose=0, thread=1)


def fasttext_predict(model, texts):
    """Top label per text. Always a list (numpy 2 breaks predict on a single string)."""
    labels, _ = model.predict([one_line(t) for t in texts])
    return [ls[0][len("__label__"):] for ls in labels]


VADER = SentimentIntensityAnalyzer()


def vader_label(text):
    """VADER's usual thresholds on the compound score."""
    compound = VADER.polarity_scores(text)["compound"]
    return "pos" if compound >= 0.05 else "neg" if compound <= -0.05 else "neu"


def f3(x):
    return "–" if x is None else f"{x:.3f}"


def per_second(x):
    return f"{round(x, -3):,.0f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


# --- 1. data and build ---------------------------------------------------------------
def prepare():
    run([sys.executable, "models/prepare_data.py"])
    run(["cargo", "build", "--release", "--quiet"])


# --- 2. accuracy ---------------------------------------------------------------------
def accuracy(out):
    rows, ft_models = [], {}
    for task, title, lang, labels in SIDE_BY_SIDE:
        train, test = f"{TASKS}/{task}-train.jsonl", f"{TASKS}/{task}-test.jsonl"
        model_dir = f"{BENCH}/models/{task}"
        run([ONRUST, "train", "--data", train, "--out", model_dir, "--lang", lang, "--lexicon", LEXICON[lang]])
        evaluated = json.loads(run([ONRUST, "eval", "--model", model_dir, "--data", test]))
        test_rows = read(test)
        for label in labels:
            labelled = [r for r in test_rows if label_of(r, label) is not None]
            truth = [label_of(r, label) for r in labelled]
            model = ft_models[(task, label)] = fasttext_train(train, label, task)
            systems = [("onrust", evaluated[label]),
                       ("fastText", report(truth, fasttext_predict(model, [r["text"] for r in labelled]),
                                           CLASSES[label]))]
            if label == "sentiment" and lang == "en":
                systems.append(("VADER", report(truth, [vader_label(r["text"]) for r in labelled],
                                                CLASSES[label])))
            for system, r in systems:
                pr = " · ".join(f"{c} {f3(v['precision'])}/{f3(v['recall'])}" for c, v in r["classes"].items())
                f1_1 = r["classes"]["1"]["f1"] if label == "tension" else None
                rows.append([title, label, r["examples"], system, f3(r["accuracy"]), f3(r["macro_f1"]),
                             f3(r["macro_recall"]), pr, f3(f1_1)])
    out += ["## Side by side: onrust vs fastText (and VADER), same train and test files", "",
            "onrust: `onrust train --lang L --lexicon LEX` then `onrust eval`; fastText: "
            "`train_supervised(wordNgrams=2, epoch=25, lr=0.5, minCount=1)`, one model per label; "
            "VADER: compound ≥ 0.05 pos, ≤ −0.05 neg, else neu. Tension: class 1 when P ≥ 0.5 (onrust). "
            "Per class: precision/recall.", ""]
    out += table(["Task", "Label", "n test", "System", "Accuracy", "Macro-F1", "Macro-recall",
                  "Per class P/R", "F1 class 1"], rows) + [""]

    # The shipped (built-in) models: `onrust eval` without --model.
    rows = []
    for title, path in SHIPPED_ON:
        e = json.loads(run([ONRUST, "eval", "--data", path]))
        s, t = e["sentiment"], e["tension"]
        rows.append([title, e["examples"], f3(s and s["macro_f1"]), f3(s and s["macro_recall"]),
                     f3(t and t["macro_f1"]), f3(t and t["classes"]["1"]["f1"]),
                     f3(t and t["calibration"]["ece"]), f3(t and t["calibration"]["brier"])])
    out += ["## Shipped models (`onrust eval --data FILE`, built-in models)", ""]
    out += table(["Data", "n", "Sentiment macro-F1", "Sentiment macro-recall", "Tension macro-F1",
                  "Tension F1 class 1", "Tension ECE", "Tension Brier"], rows) + [""]
    hatecheck(out, ft_models[("nl-seed", "tension")])
    return ft_models


def hatecheck(out, ft_model):
    """HateCheck-NL, evaluation only: the shipped Dutch model (via `onrust score --jsonl`,
    lang nl given, hostile when tension >= 0.5) and fastText trained on nl-seed-train."""
    rows = read(f"{DATA}/hatecheck-nl.jsonl")
    texts, truth = [r["text"] for r in rows], [label_of(r, "tension") for r in rows]
    predictions = {
        "onrust (shipped nl)": ["1" if o["tension"] >= 0.5 else "0" for o in onrust_score(texts, jsonl_lang="nl")],
        "fastText (nl-seed-train)": fasttext_predict(ft_model, texts),
    }
    out += ["## HateCheck-NL (evaluation only)", "",
            f"{len(rows)} test cases. Overall, tension classes 0/1:", ""]
    overall = [[name, f3(r["accuracy"]), f3(r["macro_f1"]), f3(r["classes"]["1"]["f1"]),
                f3(r["classes"]["1"]["recall"]), f3(r["classes"]["0"]["recall"])]
               for name, r in ((n, report(truth, p, CLASSES["tension"])) for n, p in predictions.items())]
    out += table(["System", "Accuracy", "Macro-F1", "F1 hateful", "Recall hateful", "Recall non-hateful"],
                 overall) + [""]
    # Per functionality: every functionality is all hateful (_h) or all non-hateful (_nh);
    # the share is of hateful cases predicted hostile, or of contrast cases predicted not.
    groups = collections.defaultdict(list)
    for i, r in enumerate(rows):
        groups[r["functionality"]].append(i)
    per = []
    for func in sorted(groups, key=lambda f: (f.endswith("_nh"), f)):
        idx = groups[func]
        hateful = {truth[i] for i in idx}
        assert len(hateful) == 1, f"{func} mixes hateful and non-hateful cases"
        want = hateful.pop()
        shares = [sum(1 for i in idx if p[i] == want) / len(idx) for p in predictions.values()]
        per.append([func, "hateful" if want == "1" else "non-hateful", len(idx), *map(f3, shares)])
    out += ["Per functionality: share predicted hostile (hateful cases) or non-hostile (contrast cases):", ""]
    out += table(["Functionality", "Cases", "n", *predictions], per) + [""]


# --- 3. speed and memory -------------------------------------------------------------
def speed(out, en_sentiment_fasttext):
    load = os.getloadavg()[0]  # other work on the machine skews the timings: reported
    rng = random.Random(SEED)
    nl = [one_line(r["text"]) for f in ("nl-seed-train", "nl-seed-test") for r in read(f"{TASKS}/{f}.jsonl")]
    en = [one_line(r["text"]) for r in read(f"{TASKS}/sentiment-test.jsonl")]
    nl, en = [t for t in nl if t], [t for t in en if t]
    half = SPEED_POSTS // 2
    mix = [(t, "nl") for t in rng.choices(nl, k=half)] + [(t, "en") for t in rng.choices(en, k=half)]
    rng.shuffle(mix)
    os.makedirs(f"{BENCH}/speed", exist_ok=True)
    plain, jsonl, big = f"{BENCH}/speed/mix.txt", f"{BENCH}/speed/mix.jsonl", f"{BENCH}/speed/mix-x5.txt"
    with open(plain, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t, _ in mix)
    with open(jsonl, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": str(i), "text": t, "lang": l}, ensure_ascii=False) + "\n"
                     for i, (t, l) in enumerate(mix))
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(MEMORY_REPEATS):
            f.writelines(t + "\n" for t, _ in mix)

    def best_wall_clock(args, path):
        """Best of 3 wall-clock runs on core 0, stdin from the file, stdout to /dev/null."""
        best = float("inf")
        for _ in range(3):
            with open(path, "rb") as stdin:
                start = time.perf_counter()
                subprocess.run(["taskset", "-c", "0", ONRUST, "score", *args], stdin=stdin,
                               stdout=subprocess.DEVNULL, check=True)
                best = min(best, time.perf_counter() - start)
        return best

    onrust_plain = len(mix) / best_wall_clock([], plain)
    onrust_jsonl = len(mix) / best_wall_clock(["--jsonl"], jsonl)
    # In process, like fastText's predict: benches/throughput.rs scores the same posts
    # (both heads, shipped models) on core 0, best of 3, language detected and given.
    run(["cargo", "bench", "--quiet", "--bench", "throughput", "--no-run"], stderr=subprocess.DEVNULL)
    in_process = json.loads(run(["taskset", "-c", "0", "cargo", "bench", "--quiet", "--bench",
                                 "throughput", "--", jsonl], stderr=subprocess.DEVNULL))
    # fastText: the TweetEval sentiment model, this process pinned to core 0 (predict on a
    # list runs in the calling thread), timed around the predict call only, best of 3.
    texts = [t for t, _ in mix]
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        en_sentiment_fasttext.predict(texts)
        best = min(best, time.perf_counter() - start)
    os.sched_setaffinity(0, affinity)
    ft = len(texts) / best

    # Peak memory: a fresh Python child runs only `onrust score` over 1,000,000 lines
    # streamed from a file, then prints getrusage(RUSAGE_CHILDREN).ru_maxrss (KiB on Linux).
    child = ("import resource, subprocess, sys; "
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    with open(big, "rb") as stdin:
        max_rss_kib = int(run([sys.executable, "-c", child, ONRUST, "score"], stdin=stdin))

    out += ["## Speed and memory (one core: `taskset -c 0`)", "",
            f"{len(mix):,} posts, {half:,} Dutch (nl-seed train+test texts) and {half:,} English "
            f"(TweetEval sentiment test texts), drawn with replacement and shuffled with seed {SEED}. "
            "onrust score: wall clock of the whole process (start-up, reading, JSON out), best of 3, "
            "output to /dev/null. onrust in process: `benches/throughput.rs`, scoring only, best of 3. "
            "fastText: `model.predict(list_of_200000_texts)` only, TweetEval sentiment model, best of 3. "
            f"Load average (1 min) before timing: {load:.2f}.", ""]
    out += table(["System", "Posts/s", "onrust / fastText"], [
        ["onrust in process (language detection)", per_second(in_process["detect_per_second"]),
         f3(in_process["detect_per_second"] / ft)],
        ["onrust in process (lang given)", per_second(in_process["given_per_second"]),
         f3(in_process["given_per_second"] / ft)],
        ["onrust score (plain text, language detection)", per_second(onrust_plain), f3(onrust_plain / ft)],
        ["onrust score --jsonl (lang given)", per_second(onrust_jsonl), f3(onrust_jsonl / ft)],
        ["fastText predict (sentiment only)", per_second(ft), "1.000"]]) + [""]
    out += table(["Figure", "Value"], [
        [f"Peak RSS, `onrust score` over {len(mix) * MEMORY_REPEATS:,} lines", f"{max_rss_kib / 1024:.3f} MiB"],
        *[[f"models/{l}/onrust.model", f"{os.path.getsize(f'models/{l}/onrust.model') / 2**20:.3f} MiB "
           f"({os.path.getsize(f'models/{l}/onrust.model'):,} bytes)"] for l in ("nl", "en")]]) + [""]


# --- 4. language identification ------------------------------------------------------
def language_id(out):
    out += ["## Language identification (`onrust score` on plain text lines, `lang` field)", ""]
    if not os.path.exists(LANGID_FIXTURE):
        out += [f"Skipped: {LANGID_FIXTURE} does not exist.", ""]
    else:
        rows = [r for r in read(LANGID_FIXTURE) if one_line(r["text"])]
        got = [o["lang"] for o in onrust_score([r["text"] for r in rows])]
        ok = [g == r["lang"] for g, r in zip(got, rows)]
        share = lambda idx: f3(sum(ok[i] for i in idx) / len(idx)) if idx else "–"
        by_lang = collections.defaultdict(list)
        for i, r in enumerate(rows):
            by_lang[r["lang"]].append(i)
        short = [i for i, r in enumerate(rows) if len(r["text"].split()) <= 4]
        long_ = [i for i, r in enumerate(rows) if len(r["text"].split()) > 4]
        out += [f"{LANGID_FIXTURE}: expected = the `lang` label (`und` for posts in no language).", ""]
        summary = [["all", len(rows), share(range(len(rows)))],
                   ["≤ 4 words", len(short), share(short)], ["> 4 words", len(long_), share(long_)]]
        out += table(["Posts", "n", "Accuracy"], summary) + [""]
        per = []
        for lang in sorted(by_lang, key=lambda l: (-len(by_lang[l]), l)):
            wrong = collections.Counter(got[i] for i in by_lang[lang] if not ok[i]).most_common(3)
            per.append([lang, len(by_lang[lang]), share(by_lang[lang]),
                        ", ".join(f"{l} ×{n}" for l, n in wrong) or "–"])
        out += table(["Language", "n", "Accuracy", "Most frequent wrong answers"], per) + [""]
    seeds = []
    for lang, path in (("nl", f"{DATA}/nl-seed-test.jsonl"), ("en", f"{DATA}/en-seed-test.jsonl")):
        texts = [r["text"] for r in read(path) if one_line(r["text"])]
        got = collections.Counter(o["lang"] for o in onrust_score(texts))
        seeds.append([path, lang, len(texts), f3(got[lang] / len(texts)),
                      ", ".join(f"{l} ×{n}" for l, n in got.most_common() if l != lang) or "–"])
    out += ["Seed test splits (texts only, language detected):", ""]
    out += table(["File", "Expected", "n", "Identified correctly", "Other answers"], seeds) + [""]


# --- 5. report -----------------------------------------------------------------------
def main():
    started = time.perf_counter()
    cpu = next((line.split(":", 1)[1].strip() for line in run(["lscpu"]).splitlines()
                if line.startswith("Model name")), "unknown")
    prepare()
    out = ["# onrust accuracy and speed benchmark", "",
           f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
           f"- Machine: {cpu}, nproc {run(['nproc']).strip()}",
           f"- Command: `python3 {' '.join(sys.argv)}` (from the repository root)",
           f"- {run([ONRUST, '--version']).strip()}; fastText {version('fasttext')}, "
           f"vaderSentiment {version('vaderSentiment')}; data from `models/prepare_data.py` (target/data)", ""]
    ft_models = accuracy(out)
    speed(out, ft_models[("sentiment", "sentiment")])
    language_id(out)
    out += [f"_Total run time: {time.perf_counter() - started:.0f} s._", ""]
    text = "\n".join(out)
    os.makedirs(BENCH, exist_ok=True)
    with open(f"{BENCH}/accuracy.md", "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
