#!/usr/bin/env python3
"""Maps ../shared/data and our seed sets to onrust's training format.

Every label mapping onrust's models rely on is written here, once, and used both by
`models/retrain.sh` (the shipped models) and by `benches/accuracy.py` (onrust and
fastText trained on exactly the same files). Output: JSONL lines
{"text", "lang", "sentiment"?: "neg"|"neu"|"pos", "tension"?: 0|1} under OUT_DIR.

Usage: python3 models/prepare_data.py [--shared ../shared/data] [--out target/data]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# TweetEval emotions that carry a clear polarity.
NEGATIVE_EMOTIONS = {"anger", "disgust", "fear", "sadness"}
POSITIVE_EMOTIONS = {"joy", "trust", "optimism"}


def read(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def write(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            if not row["text"].strip():
                continue
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    print(f"{count:7d}  {os.path.relpath(path)}", file=sys.stderr)


def example(text, lang, sentiment=None, tension=None):
    row = {"text": text, "lang": lang}
    if sentiment is not None:
        row["sentiment"] = sentiment
    if tension is not None:
        row["tension"] = int(tension)
    return row


def emotions_to_sentiment(emotions):
    """Polarity when every emotion agrees; none (mixed, or surprise/anticipation)
    otherwise; no emotion at all is `neu`."""
    emotions = set(emotions)
    if not emotions:
        return "neu"
    if emotions <= NEGATIVE_EMOTIONS:
        return "neg"
    if emotions <= POSITIVE_EMOTIONS:
        return "pos"
    return None


def seed(lang, writer, sentiment=True, tension=True):
    path = os.path.join(HERE, "seed", lang, f"writer-{writer}.jsonl")
    for r in read(path):
        yield example(r["text"], lang, r["sentiment"] if sentiment else None, r["tension"] if tension else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "target", "data"))
    args = parser.parse_args()
    en = lambda name: os.path.join(args.shared, "en", name)
    nl = lambda name: os.path.join(args.shared, "nl", name)
    out = lambda name: os.path.join(args.out, name)

    # --- English sentiment -------------------------------------------------------
    def en_sentiment_train():
        # TweetEval's validation split is its only non-test sentiment data here.
        for r in read(en("tweeteval-sentiment-val.jsonl")):
            yield example(r["text"], "en", sentiment=r["sentiment"])
        for r in read(en("tweeteval-emotion-train.jsonl")):
            polarity = emotions_to_sentiment([r["emotion"]])
            if polarity:
                yield example(r["text"], "en", sentiment=polarity)
        # VADER's human-rated sentences: `sentiment` is the mean rating beyond ±0.5.
        for name in ("vader-movie.jsonl", "vader-amazon.jsonl", "vader-nyt.jsonl"):
            for r in read(en(name)):
                yield example(r["text"], "en", sentiment=r["sentiment"])
        yield from seed("en", "c", tension=False)

    # --- English tension ---------------------------------------------------------
    def en_tension_train():
        # HatEval "hate" (hostility toward immigrants and women) is the public set
        # closest to the contract's hostility toward groups. OLID "offensive" is left
        # out: much of it is untargeted profanity, which is not tension; so is
        # Davidson (dialect bias, few hate examples). Both made the model worse on
        # the seed test split (see models/en/MODEL_CARD.md).
        for r in read(en("tweeteval-hate-train.jsonl")):
            yield example(r["text"], "en", tension=r["hate"])
        # Our own public-safety seed set, five times: it is what the model is for,
        # and small next to HatEval.
        for _ in range(5):
            yield from seed("en", "c", sentiment=False)

    write(out("en-train.jsonl"), list(en_sentiment_train()) + list(en_tension_train()))
    write(out("en-seed-test.jsonl"), seed("en", "d"))

    # --- Dutch ---------------------------------------------------------------------
    def nl_train():
        # Only our seed set: XED's Dutch subtitles (emotions projected from English)
        # are not posts, and adding them as sentiment data lowered sentiment macro-F1
        # on the seed test split from 0.66 to 0.57 (see models/nl/MODEL_CARD.md).
        yield from seed("nl", "a")

    write(out("nl-train.jsonl"), nl_train())
    write(out("nl-seed-test.jsonl"), seed("nl", "b"))
    write(out("hatecheck-nl.jsonl"), (
        dict(example(r["text"], "nl", tension=r["hateful"]), functionality=r["functionality"])
        for r in read(nl("hatecheck-nl.jsonl"))))

    # --- Side-by-side tasks: one train and one held-out file each ------------------
    write(out("tasks/sentiment-train.jsonl"), en_sentiment_train())
    write(out("tasks/sentiment-test.jsonl"), (
        example(r["text"], "en", sentiment=r["sentiment"]) for r in read(en("tweeteval-sentiment-test.jsonl"))))
    for task in ("offensive", "hate"):
        write(out(f"tasks/{task}-train.jsonl"), (
            example(r["text"], "en", tension=r[task]) for r in read(en(f"tweeteval-{task}-train.jsonl"))))
        write(out(f"tasks/{task}-test.jsonl"), (
            example(r["text"], "en", tension=r[task]) for r in read(en(f"tweeteval-{task}-val.jsonl"))))
    write(out("tasks/nl-seed-train.jsonl"), seed("nl", "a"))
    write(out("tasks/nl-seed-test.jsonl"), seed("nl", "b"))
    write(out("tasks/en-seed-train.jsonl"), seed("en", "c"))
    write(out("tasks/en-seed-test.jsonl"), seed("en", "d"))


if __name__ == "__main__":
    main()
