#!/usr/bin/env bash
# Retrains the shipped models from ../shared/data and our seed sets, in one command:
#   models/retrain.sh
# Writes models/nl/onrust.model and models/en/onrust.model (with training.json beside
# each). Training is deterministic: the same data gives the same bytes, except the
# training date in the header.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${ONRUST_SHARED_DATA:-../shared/data}
python3 models/prepare_data.py --shared "$shared" --out target/data
cargo build --release --quiet
./target/release/onrust train --lang nl \
  --data target/data/nl-train.jsonl \
  --lexicon "$shared/lexicons/pattern-nl-sentiment.xml" \
  --description "seed nl writer-a (sentiment, tension); Pattern nl lexicon" \
  --out models/nl
./target/release/onrust train --lang en \
  --data target/data/en-train.jsonl \
  --lexicon "$shared/lexicons/vader_lexicon.txt" \
  --description "TweetEval sentiment-val, emotion-train; VADER movie/amazon/nyt; HatEval hate-train; seed en writer-c (x5 for tension); VADER lexicon" \
  --out models/en
