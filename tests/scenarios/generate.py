#!/usr/bin/env python3
"""Writes the replay scenarios of tests/scenarios: an areas file, and one JSONL file of
posts per incident shape or decoy, each two days of ordinary traffic followed by the
event on the third day.

Texts come from our own seed test splits (models/seed/*/writer-b.jsonl and
writer-d.jsonl): tense posts for incidents, calm ones for traffic, categories for the
decoys (football and events, condolences and complaints). Posts are located in all
three ways: by area id, by coordinates, by place name. Deterministic: the same script
writes the same files.

Usage: python3 tests/scenarios/generate.py      (then bless the expected outputs:
       ONRUST_BLESS=1 cargo test --release --test integration scenarios)
"""

import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DAY = 24 * 60  # minutes
START_MS = 1_795_737_600_000  # 2026-11-27T00:00:00Z

# id, name, aliases, shape: (lon, lat, half-size in degrees) square, or point + radius.
AREAS = [
    ("GM0599", "Rotterdam", ["R'dam"], (4.48, 51.92, 0.06), 40.0),
    ("GM0363", "Amsterdam", ["A'dam", "Mokum"], (4.90, 52.37, 0.07), 30.0),
    ("GM0014", "Groningen", ["Stad"], (6.57, 53.22, 0.04), 12.0),
    ("GM0017", "Haren", ["Haren (Gn)"], (6.61, 53.12, 0.02), 8.0),
    ("GM1680", "Aa en Hunze", ["Gieten"], (6.76, 53.00, 0.05), 2.0),
]
# Per area: (id, name, aliases, square, posts per hour)


def seed_posts():
    rows = []
    for lang, writer in (("nl", "b"), ("en", "d")):
        path = os.path.join(ROOT, "models", "seed", lang, f"writer-{writer}.jsonl")
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def main():
    rng = random.Random(20261128)
    rows = seed_posts()
    pools = {
        "calm": [r["text"] for r in rows if r["tension"] == 0 and r["category"] in ("everyday", "event", "football", "sport", "slang_praise", "gaming")],
        "tense": [r["text"] for r in rows if r["tension"] == 1],
        "crowd": [r["text"] for r in rows if r["category"] in ("football", "sport", "event", "fireworks")],
        "sad": [r["text"] for r in rows if r["category"] in ("condolence", "complaint")],
    }
    write_areas()
    counter = [0]

    def post(minute, area, pool):
        counter[0] += 1
        a = next(a for a in AREAS if a[0] == area)
        lon, lat, half, _ = a[3][0], a[3][1], a[3][2], None
        row = {"id": str(counter[0]), "text": rng.choice(pools[pool]),
               "created_at": START_MS + minute * 60_000 + rng.randrange(60_000)}
        how = rng.random()
        if how < 0.4:
            row["area"] = area
        elif how < 0.8:
            row["geo"] = {"lat": round(lat + rng.uniform(-half, half) * 0.9, 5),
                          "lon": round(lon + rng.uniform(-half, half) * 0.9, 5)}
        else:
            row["place"] = rng.choice([a[1]] + a[2])
        return row

    def traffic(posts, start, end, factor=1.0):
        for area in AREAS:
            per_minute = area[4] * factor / 60.0
            for minute in range(start, end):
                expected = per_minute
                while expected > 0:
                    if rng.random() < min(expected, 1.0):
                        posts.append(post(minute, area[0], "calm"))
                    expected -= 1.0

    def burst(posts, area, start, end, per_hour, pool):
        for minute in range(start, end):
            expected = per_hour / 60.0
            while expected > 0:
                if rng.random() < min(expected, 1.0):
                    posts.append(post(minute, area, pool))
                expected -= 1.0

    day3 = 2 * DAY
    scenarios = {
        # A riot organised in a small town: tension builds from 20:00 and keeps rising
        # for two hours, then dies down.
        "incident_town": lambda p: (burst(p, "GM0017", day3 + 20 * 60, day3 + 20 * 60 + 40, 20, "tense"),
                                    burst(p, "GM0017", day3 + 20 * 60 + 40, day3 + 21 * 60 + 20, 60, "tense"),
                                    burst(p, "GM0017", day3 + 21 * 60 + 20, day3 + 22 * 60, 200, "tense")),
        # The same in a large city: a shift of a few hundred posts among thousands.
        "incident_city": lambda p: burst(p, "GM0599", day3 + 21 * 60, day3 + 22 * 60 + 30, 60, "tense"),
        # Decoy: a match in Rotterdam, ten times the usual posts, no tension.
        "decoy_match": lambda p: burst(p, "GM0599", day3 + 18 * 60, day3 + 21 * 60, 400, "crowd"),
        # Decoy: sad national news, every area negative, no tension.
        "decoy_sad_news": lambda p: [burst(p, a[0], day3 + 12 * 60, day3 + 15 * 60, a[4] * 3, "sad") for a in AREAS],
        # Decoy: tension everywhere at once (riots abroad on the news).
        "decoy_national_wave": lambda p: [burst(p, a[0], day3 + 19 * 60, day3 + 21 * 60, a[4] * 0.6, "tense") for a in AREAS],
        # Decoy: a handful of angry posts in the village, no build-up.
        "decoy_angry_handful": lambda p: burst(p, "GM1680", day3 + 22 * 60, day3 + 22 * 60 + 20, 9, "tense"),
    }
    for name, event in scenarios.items():
        posts = []
        traffic(posts, 0, 3 * DAY)
        event(posts)
        posts.sort(key=lambda r: (r["created_at"], int(r["id"])))
        with open(os.path.join(HERE, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for row in posts:
                f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        print(f"{name}: {len(posts)} posts")


def write_areas():
    features = []
    for area_id, name, aliases, (lon, lat, half), _ in AREAS:
        ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
                [lon - half, lat + half], [lon - half, lat - half]]
        features.append({"type": "Feature", "properties": {"id": area_id, "name": name, "aliases": aliases},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    with open(os.path.join(HERE, "areas.geojson"), "w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
