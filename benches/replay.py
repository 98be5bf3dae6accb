#!/usr/bin/env python3
"""Replay throughput and memory: `onrust replay` end to end (decoding, language,
scoring, locating, windows, baselines, rules) on one core, over generated multi-day
scenarios. Writes its inputs under target/bench/replay and prints a Markdown table.

Run from the repository root:  python3 benches/replay.py
"""

import json
import os
import random
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
OUT = "target/bench/replay"
ONRUST = "target/release/onrust"
START_MS = 1_795_737_600_000


def texts():
    rows = []
    for lang, writer in (("nl", "a"), ("nl", "b"), ("en", "c"), ("en", "d")):
        with open(f"models/seed/{lang}/writer-{writer}.jsonl", encoding="utf-8") as f:
            rows += [json.loads(line)["text"] for line in f if line.strip()]
    return rows


def scenario(name, areas, days, posts_per_day, seed=7):
    """`areas` square areas on a grid; posts spread over them and over `days` days,
    located by area id, coordinates or name in turn."""
    rng = random.Random(seed)
    pool = texts()
    os.makedirs(OUT, exist_ok=True)
    side = int(areas ** 0.5) + 1
    features, centres = [], []
    for i in range(areas):
        lon, lat = 3.5 + (i % side) * 0.01, 50.8 + (i // side) * 0.01
        centres.append((lon, lat))
        ring = [[lon, lat], [lon + 0.009, lat], [lon + 0.009, lat + 0.009], [lon, lat + 0.009], [lon, lat]]
        features.append({"type": "Feature", "properties": {"id": f"A{i}", "name": f"Area {i}"},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    with open(f"{OUT}/{name}.geojson", "w") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f)
    with open(f"{OUT}/{name}.toml", "w") as f:
        f.write(f'[areas]\nfile = "{name}.geojson"\n')
    total = days * posts_per_day
    step = days * 86_400_000 / total
    with open(f"{OUT}/{name}.jsonl", "w", encoding="utf-8") as f:
        for n in range(total):
            area = rng.randrange(areas)
            row = {"id": str(n), "text": rng.choice(pool), "created_at": START_MS + int(n * step)}
            how = n % 3
            if how == 0:
                row["area"] = f"A{area}"
            elif how == 1:
                lon, lat = centres[area]
                row["geo"] = {"lat": round(lat + 0.004, 5), "lon": round(lon + 0.004, 5)}
            else:
                row["place"] = f"Area {area}"
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return total


def replay(name):
    """Wall clock and peak memory of one `onrust replay` on core 0."""
    child = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", child, "taskset", "-c", "0", ONRUST, "replay",
                          "--config", f"{OUT}/{name}.toml", f"{OUT}/{name}.jsonl"],
                         check=True, text=True, stdout=subprocess.PIPE).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
    rows = []
    for name, areas, days, per_day in [("300-areas-3-days", 300, 3, 300_000),
                                       ("1k-areas-1M", 1_000, 3, 333_334),
                                       ("1k-areas-2M", 1_000, 3, 666_667),
                                       ("100k-areas-1M", 100_000, 3, 333_334)]:
        posts = scenario(name, areas, days, per_day)
        best = min(replay(name) for _ in range(2))
        rows.append((name, areas, posts, posts / best[0], best[1]))
    print(f"Command: `python3 benches/replay.py` ({time.strftime('%Y-%m-%d')}), one core (`taskset -c 0`), "
          "best of 2, whole process.\n")
    print("| scenario | areas | posts | posts/s | peak memory |")
    print("|---|---|---|---|---|")
    for name, areas, posts, rate, mib in rows:
        print(f"| {name} | {areas:,} | {posts:,} | {rate:,.0f} | {mib:.0f} MiB |")


if __name__ == "__main__":
    main()
