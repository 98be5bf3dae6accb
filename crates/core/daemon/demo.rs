//! `onrust demo`: the daemon on a built-in synthetic firehose. No Kafka, no
//! configuration, no network beyond its own loopback port.
//!
//! Twelve Dutch areas of our own drawing; Dutch and English posts from templates;
//! two days of ordinary traffic learnt in a flash so that every area has a
//! baseline; then event time runs at `speed` times the wall clock: background
//! traffic everywhere, a festival in Rotterdam (a crowd without tension: at most
//! `info`), and in Haren a build-up of tension that turns the map, raises a
//! `warning`, escalates to `critical`, dies down and resolves.

use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use onrust_signal::watermark::Alignment;

use super::applier::{Applied, Applier, Incoming, Position, Source};

/// One area of the demo: id, name, aliases, centre (lon, lat), radius in degrees
/// of latitude, ordinary posts per hour.
struct DemoArea {
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    lon: f64,
    lat: f64,
    radius: f64,
    per_hour: f64,
}

const AREAS: [DemoArea; 12] = [
    area(
        "NL-AMS",
        "Amsterdam",
        &["A'dam", "Mokum"],
        4.90,
        52.37,
        0.08,
        500.0,
    ),
    area("NL-RTM", "Rotterdam", &["R'dam"], 4.48, 51.92, 0.08, 400.0),
    area(
        "NL-DHG",
        "Den Haag",
        &["'s-Gravenhage", "The Hague"],
        4.30,
        52.07,
        0.06,
        300.0,
    ),
    area("NL-UTR", "Utrecht", &[], 5.12, 52.09, 0.06, 250.0),
    area("NL-EHV", "Eindhoven", &[], 5.47, 51.44, 0.06, 150.0),
    area("NL-GRO", "Groningen", &["Stad"], 6.57, 53.22, 0.05, 150.0),
    area("NL-HAR", "Haren", &["Haren (Gn)"], 6.61, 53.13, 0.03, 15.0),
    area("NL-ZWO", "Zwolle", &[], 6.09, 52.51, 0.05, 80.0),
    area("NL-NIJ", "Nijmegen", &[], 5.86, 51.84, 0.05, 100.0),
    area("NL-MST", "Maastricht", &[], 5.69, 50.85, 0.05, 90.0),
    area("NL-LWD", "Leeuwarden", &[], 5.80, 53.20, 0.05, 60.0),
    area(
        "NL-DBS",
        "'s-Hertogenbosch",
        &["Den Bosch"],
        5.30,
        51.69,
        0.045,
        90.0,
    ),
];

const fn area(
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    lon: f64,
    lat: f64,
    radius: f64,
    per_hour: f64,
) -> DemoArea {
    DemoArea {
        id,
        name,
        aliases,
        lon,
        lat,
        radius,
        per_hour,
    }
}

const CALM_NL: &[&str] = &[
    "Wat een mooie dag in {place}",
    "Lekker koffie gedronken op de markt in {place}",
    "Drukte bij de bakker vanochtend, maar gezellig",
    "Iemand een tip voor een goede pizzeria in {place}?",
    "Fietsen langs het water, heerlijk weer vandaag",
    "Nieuwe expositie in het museum van {place}, aanrader",
    "Files op de ring weer, zucht",
    "Hond uitgelaten in het park, zo rustig hier",
    "Vanavond pubquiz in het café, wie doet mee?",
    "De bibliotheek in {place} heeft nieuwe openingstijden",
    "Zondagse wandeling door {place}, alles in bloei",
    "Weer een nieuwe bakkerij geopend in de wijk",
];
const CALM_EN: &[&str] = &[
    "Lovely morning walk in {place}",
    "Great coffee at the market today",
    "Anyone know a good bike repair shop in {place}?",
    "Train delayed again, typical",
    "Beautiful sunset over the canal tonight",
    "The new library in {place} is really nice",
];
const CROWD_NL: &[&str] = &[
    "Wat een wedstrijd! {place} op zijn kop",
    "Festival in {place} is begonnen, wat een line-up",
    "Toeteren door de straten, wat een overwinning",
    "Duizenden mensen op het plein voor het concert in {place}",
    "Sfeer in {place} is geweldig vandaag, iedereen zingt mee",
    "Kampioen!! Feest in de stad",
];
const CROWD_EN: &[&str] = &[
    "What a match! {place} is buzzing",
    "The festival in {place} is amazing",
    "Huge crowd for the concert tonight",
];
const TENSE_NL: &[&str] = &[
    "Iedereen vanavond om 21:00 naar het plein in {place}, neem stenen mee",
    "Politie wordt bekogeld in {place}, het escaleert",
    "Ze hebben een auto in brand gestoken bij het station",
    "Ruiten ingegooid bij de supermarkt, plunderingen in {place}",
    "Kom allemaal naar {place}, we laten ons niet meer wegsturen",
    "Vuurwerkbommen op de politie, wat een chaos",
    "Morgen pakken we ze, wie doet mee?",
    "Relschoppers trekken door het centrum van {place}",
];
const TENSE_EN: &[&str] = &[
    "Riot police in {place}, cars on fire",
    "Everyone meet at the square at 9pm, bring something to throw",
    "Shops being looted in the centre of {place}",
];

/// The demo's settings.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Event seconds per wall second.
    pub speed: f64,
    /// Seed of the generator: the same seed gives the same posts.
    pub seed: u64,
}

/// The areas as a GeoJSON FeatureCollection: each an irregular octagon around its
/// centre (drawn by us, not a real boundary).
pub fn areas_geojson(seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xA4EA);
    let features: Vec<serde_json::Value> = AREAS
        .iter()
        .map(|a| {
            let scale = 1.0 / a.lat.to_radians().cos();
            let mut ring: Vec<[f64; 2]> = (0..8)
                .map(|k| {
                    let angle = TAU * (f64::from(k) + rng.f64() * 0.4 - 0.2) / 8.0;
                    let r = a.radius * (0.8 + rng.f64() * 0.4);
                    [
                        round5(a.lon + r * angle.cos() * scale),
                        round5(a.lat + r * angle.sin()),
                    ]
                })
                .collect();
            ring.push(ring[0]);
            serde_json::json!({
                "type": "Feature",
                "properties": {"id": a.id, "name": a.name, "aliases": a.aliases},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
}

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

/// What happens in the demo's event time, in minutes from the start of the live
/// part.
struct Timeline;

impl Timeline {
    const FESTIVAL: (i64, i64) = (10, 100);
    const BUILD_UP: (i64, i64) = (20, 40);
    const PEAK: (i64, i64) = (40, 70);
    const EBB: (i64, i64) = (70, 80);

    /// (posts per hour, tension share, crowd share) of `area` in minute `m`, given
    /// its ordinary rate at that time of day.
    fn mix(area: &DemoArea, m: i64, ordinary: f64) -> (f64, f64, f64) {
        let within = |(from, to): (i64, i64)| (from..to).contains(&m);
        // The incident's volume is its own, whatever the time of day.
        match area.id {
            "NL-RTM" if within(Self::FESTIVAL) => (ordinary * 5.0, 0.01, 0.8),
            "NL-HAR" if within(Self::BUILD_UP) => (40.0, 0.3, 0.0),
            "NL-HAR" if within(Self::PEAK) => (160.0, 0.7, 0.0),
            "NL-HAR" if within(Self::EBB) => (40.0, 0.25, 0.0),
            _ => (ordinary, 0.01, 0.02),
        }
    }
}

/// Posts of event minute `minute` (epoch minutes); `live_minute` is its place in
/// the timeline (negative: the warm-up history).
fn minute_posts(
    rng: &mut fastrand::Rng,
    minute: i64,
    live_minute: i64,
    next_id: &mut u64,
) -> Vec<(i64, String)> {
    let mut posts = Vec::new();
    for area in &AREAS {
        // Busier by day than by night: lowest at 04:00, highest at 16:00.
        let day_angle = TAU * ((minute.rem_euclid(24 * 60) as f64 / 60.0) - 16.0) / 24.0;
        let ordinary = area.per_hour * (0.85 + 0.6 * day_angle.cos());
        let (per_hour, tense, crowd) = if live_minute < 0 {
            (ordinary, 0.01, 0.02)
        } else {
            Timeline::mix(area, live_minute, ordinary)
        };
        let mut expected = per_hour / 60.0;
        while expected > 0.0 {
            if rng.f64() < expected.min(1.0) {
                let at = minute * 60_000 + rng.i64(0..60_000);
                *next_id += 1;
                posts.push((at, post(rng, area, *next_id, at, tense, crowd)));
            }
            expected -= 1.0;
        }
    }
    posts.sort();
    posts
}

fn post(
    rng: &mut fastrand::Rng,
    area: &DemoArea,
    id: u64,
    at: i64,
    tense: f64,
    crowd: f64,
) -> String {
    let english = rng.f64() < 0.2;
    let roll = rng.f64();
    let pool = match (roll < tense, roll < tense + crowd, english) {
        (true, _, false) => TENSE_NL,
        (true, _, true) => TENSE_EN,
        (false, true, false) => CROWD_NL,
        (false, true, true) => CROWD_EN,
        (false, false, false) => CALM_NL,
        (false, false, true) => CALM_EN,
    };
    let place = if area.aliases.is_empty() || rng.bool() {
        area.name
    } else {
        area.aliases[rng.usize(0..area.aliases.len())]
    };
    let text = pool[rng.usize(0..pool.len())].replace("{place}", place);
    let mut value = serde_json::json!({
        "id": format!("demo-{id}"),
        "text": text,
        "created_at": at,
        "author": format!("demo-user-{}", rng.u32(0..5000)),
        "source": "demo",
    });
    // Located in each of the three ways.
    match rng.u8(0..10) {
        0..=3 => value["area"] = area.id.into(),
        4..=7 => {
            let r = area.radius * 0.5 * rng.f64();
            let angle = TAU * rng.f64();
            value["geo"] = serde_json::json!({
                "lat": round5(area.lat + r * angle.sin()),
                "lon": round5(area.lon + r * angle.cos() / area.lat.to_radians().cos()),
            });
        }
        _ => value["place"] = place.into(),
    }
    value.to_string()
}

/// How often the demo checkpoints (and so publishes) in wall time.
const CHECKPOINT: Duration = Duration::from_millis(500);
/// Days of ordinary traffic learnt before the live part.
const WARM_UP_DAYS: i64 = 5;
/// Most warm-up posts handed over in one poll: the driver checkpoints between.
const WARM_UP_BATCH: usize = 20_000;

/// The firehose as a source of the driver: the warm-up days as fast as they are
/// taken, then each post when its event time comes round at `speed`.
struct Firehose {
    rng: fastrand::Rng,
    speed: f64,
    next_id: u64,
    /// The offset of the next post on the demo's one partition.
    offset: i64,
    /// The first minute of the live part (epoch minutes).
    live_start: i64,
    /// The next minute to generate (epoch minutes).
    next_minute: i64,
    /// Posts generated and not yet handed over: (event time, message).
    queue: VecDeque<(i64, String)>,
    /// When the live part started.
    started: Option<Instant>,
}

impl Firehose {
    fn new(options: DemoOptions) -> Firehose {
        let now_minute = chrono::Utc::now().timestamp().div_euclid(60);
        // The live part starts an hour ago in event time, so that the incident's
        // times read as recent on the dashboard.
        let live_start = now_minute - 60;
        Firehose {
            rng: fastrand::Rng::with_seed(options.seed),
            speed: options.speed.max(0.001),
            next_id: 0,
            offset: 0,
            live_start,
            next_minute: live_start - WARM_UP_DAYS * 24 * 60,
            queue: VecDeque::new(),
            started: None,
        }
    }

    /// The next post, generating minutes as needed.
    fn peek(&mut self) -> Option<&(i64, String)> {
        while self.queue.is_empty() {
            let minute = self.next_minute;
            self.next_minute += 1;
            let live_minute = if minute < self.live_start {
                -1
            } else {
                minute - self.live_start
            };
            self.queue.extend(minute_posts(
                &mut self.rng,
                minute,
                live_minute,
                &mut self.next_id,
            ));
        }
        self.queue.front()
    }

    /// How long after the live part's start the post of event time `at` is due.
    fn due(&self, at: i64) -> Duration {
        Duration::from_secs_f64((at - self.live_start * 60_000).max(0) as f64 / 1000.0 / self.speed)
    }

    fn hand_over(&mut self, apply: &mut dyn FnMut(Incoming<'_>) -> Applied) {
        if let Some((at, message)) = self.queue.pop_front() {
            let position = Position {
                topic: "demo",
                partition: 0,
                offset: self.offset,
            };
            self.offset += 1;
            apply(Incoming {
                position,
                payload: message.as_bytes(),
                message_time_ms: Some(at),
                arrived: Instant::now(),
            });
        }
    }
}

impl Source for Firehose {
    fn poll(
        &mut self,
        timeout: Duration,
        apply: &mut dyn FnMut(Incoming<'_>) -> Applied,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut handed = 0;
        loop {
            let at = match self.peek() {
                Some((at, _)) => *at,
                None => return Ok(()),
            };
            if at < self.live_start * 60_000 {
                if handed >= WARM_UP_BATCH {
                    return Ok(());
                }
                self.hand_over(apply);
                handed += 1;
                continue;
            }
            let started = *self.started.get_or_insert_with(Instant::now);
            let due = started + self.due(at);
            let now = Instant::now();
            if due <= now {
                self.hand_over(apply);
            } else if due < deadline {
                std::thread::sleep(due - now);
            } else {
                std::thread::sleep(deadline.saturating_duration_since(now));
                return Ok(());
            }
        }
    }

    fn commit(&mut self, _: &Applier, _: bool, _: bool) -> Result<()> {
        // Nothing to commit: the demo starts afresh every time.
        Ok(())
    }

    fn align(&mut self, _: &Alignment) -> Result<()> {
        // One partition is never ahead of itself.
        Ok(())
    }
}

/// Runs the firehose into `applier` until the daemon stops.
pub fn run(applier: Applier, options: DemoOptions) -> Result<()> {
    let applier = Mutex::new(applier);
    super::applier::drive(&mut Firehose::new(options), &applier, CHECKPOINT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_areas_file_is_valid_and_every_area_has_posts_located_in_it() {
        let areas = onrust_signal::Areas::from_geojson(&areas_geojson(1)).expect("valid areas");
        assert_eq!(areas.iter().count(), AREAS.len());
        let mut rng = fastrand::Rng::with_seed(1);
        let mut next_id = 0;
        let posts = minute_posts(&mut rng, 12 * 60, 50, &mut next_id);
        let limits = onrust_signal::Limits::default();
        let mut located = std::collections::HashSet::new();
        for (_, line) in &posts {
            let post =
                onrust_signal::decode(line.as_bytes(), &limits, None, 0).expect("valid post");
            if let (Some((id, _)), _) = areas.locate(&post) {
                located.insert(id.to_string());
            }
        }
        assert!(
            located.contains("NL-HAR") && located.contains("NL-AMS"),
            "{located:?}"
        );
    }

    fn is_tense(text: &str) -> bool {
        TENSE_NL
            .iter()
            .chain(TENSE_EN)
            .any(|t| text.starts_with(t.split("{place}").next().unwrap_or(t)))
    }

    #[test]
    fn haren_turns_tense_at_its_peak_and_rotterdam_only_crowded() {
        let areas = onrust_signal::Areas::from_geojson(&areas_geojson(2)).expect("valid areas");
        let limits = onrust_signal::Limits::default();
        let mut rng = fastrand::Rng::with_seed(2);
        let mut next_id = 0;
        let mut counts: std::collections::HashMap<String, (usize, usize)> = Default::default();
        for m in Timeline::PEAK.0..Timeline::PEAK.1 {
            for (_, line) in minute_posts(&mut rng, 12 * 60 + m, m, &mut next_id) {
                let post = onrust_signal::decode(line.as_bytes(), &limits, None, 0).expect("post");
                if let (Some((id, _)), _) = areas.locate(&post) {
                    let entry = counts.entry(id.to_string()).or_default();
                    entry.0 += 1;
                    entry.1 += usize::from(is_tense(&post.text));
                }
            }
        }
        let (haren, haren_tense) = counts["NL-HAR"];
        let (rotterdam, rotterdam_tense) = counts["NL-RTM"];
        assert!(
            haren > 50 && haren_tense * 2 > haren,
            "{haren_tense} of {haren}"
        );
        assert!(
            rotterdam > 1000 && rotterdam_tense * 50 < rotterdam,
            "{rotterdam_tense} of {rotterdam}"
        );
    }
}
