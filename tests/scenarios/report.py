#!/usr/bin/env python3
"""Prints the scenario figures for BENCHMARKS.md from the golden replay outputs:
for each incident the delay from its start to its first warning (and critical), for
each decoy the alerts it raised. Run after blessing the golden files:
    python3 tests/scenarios/report.py
"""

import datetime
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DAY3 = datetime.datetime(2026, 11, 29, tzinfo=datetime.timezone.utc)
# Incident: (scenario, area, start of the incident) as generate.py writes them.
INCIDENTS = [("incident_town", "GM0017", DAY3 + datetime.timedelta(hours=20)),
             ("incident_city", "GM0599", DAY3 + datetime.timedelta(hours=21))]
DECOYS = ["decoy_match", "decoy_sad_news", "decoy_national_wave", "decoy_angry_handful"]
# A firing event is written once the condition has held for the rule's hold_minutes
# and the watermark (allowed lateness 5 min) has passed that minute.
EMIT_LAG = {"tension_elevated": 3 + 6, "tension_critical": 3 + 6, "volume_surge": 3 + 6}


def events(name):
    with open(os.path.join(HERE, f"{name}.expected.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def at(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


print("| incident | area | first warning: condition began | written (about) | first critical: began | written (about) |")
print("|---|---|---|---|---|---|")
for name, area, start in INCIDENTS:
    cells = []
    for rule in ("tension_elevated", "tension_critical"):
        first = next((e for e in events(name) if e["rule"] == rule and e["status"] == "firing" and e["area"]["id"] == area), None)
        if first is None:
            cells += ["none", "–"]
            continue
        began = (at(first["starts_at"]) - start).total_seconds() / 60
        cells += [f"+{began:.0f} min", f"+{began + EMIT_LAG[rule]:.0f} min"]
    print(f"| {name} | {area} | " + " | ".join(cells) + " |")
print()
print("| decoy | alerts raised (rule, severity, area) |")
print("|---|---|")
for name in DECOYS:
    fired = [f"{e['rule']} ({e['severity']}, {e['area']['id']})" for e in events(name) if e["status"] == "firing"]
    print(f"| {name} | {', '.join(fired) or 'none'} |")
