//! Detection quality of the alert rules on simulated firehoses: how surely and how
//! soon an incident raises a `warning` (or `critical`) for its area, and how many
//! false warnings ordinary life raises, per detector and sensitivity.
//!
//! Everything is simulated and seeded (`fastrand`): the same seed gives the same
//! report. Areas have their own volume (2 to 300 posts an hour), a day and night
//! rhythm, busier weekends and a pool of pseudonymous authors of whom a few post a
//! lot; a simulated classifier reads 3 to 8% of an area's ordinary posts as tense
//! and catches 80% of the truly tense ones. Two kinds of firehose are replayed
//! through [`Engine`], each post arriving up to three minutes after its event time:
//!
//! - incident runs: three days of ordinary traffic (the baselines learn), then one
//!   incident in one area of four to six, in one of five settings ([`Setting`]);
//! - decoy weeks: three days to learn, then seven days of forty areas with national
//!   news, festivals, storms, peaceful protests and sport matches, and no incident.
//!
//! Measures. An incident's delay runs from its first truly tense post to the end of
//! the minute whose closing fired the first `warning` or `critical` alert of its
//! area, both in event time (a live daemon sends the alert the allowed lateness,
//! five minutes, after that minute's end); it counts as detected only when that is
//! before the incident's end plus two hours. The first `info` of the area is
//! measured the same way. A false warning is any `warning` or `critical` firing in
//! a decoy week, in an incident run's other areas, or in an incident's area before
//! its first tense post, after the three days of learning; they are given per
//! 1,000 area-days of such traffic. Each detector runs at several values of its
//! sensitivity knob, which gives the trade-off between false warnings and delay
//! (an AMOC table).
//!
//! Run: `cargo bench --bench detection [-- --quick] [-- --seed N]`. The Markdown
//! report goes to stdout (the same for the same seed), progress and the running
//! time to stderr.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use chrono::DateTime;
use onrust_signal::engine::{AlertEvent, AlertStatus, Engine, EngineConfig, ScoredPost};
use onrust_signal::rules::{Metric, Rule, Severity};
use onrust_signal::{Located, Pseudonym, Pseudonymiser};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Monday 2026-01-05 00:00 UTC: every firehose starts on one of the seven days
/// from it, so incidents and decoys fall on every weekday.
const FIRST_MONDAY_MS: i64 = 1_767_571_200_000;

/// Days of ordinary traffic before anything happens, for the baselines to learn.
/// Firings in them are reported apart, not as false warnings.
const WARMUP_DAYS: i64 = 3;

/// After an incident's end, how long an alert still counts as its detection.
const DETECTION_GRACE_MS: i64 = 2 * HOUR_MS;

/// A post arrives up to this long after its event time (within the engine's
/// allowed lateness), so that the engine sees posts slightly out of order.
const MAX_ARRIVAL_DELAY_MS: i64 = 3 * MINUTE_MS;

/// Incidents simulated per setting.
const INCIDENTS_PER_SETTING: usize = 100;

/// Incidents per setting with `--quick`.
const QUICK_INCIDENTS_PER_SETTING: usize = 8;

/// Decoy weeks simulated: 11 × 40 areas × 7 days = 3,080 area-days.
const DECOY_WEEKS: usize = 11;

/// Decoy weeks with `--quick`.
const QUICK_DECOY_WEEKS: usize = 1;

/// The seed without `--seed`.
const DEFAULT_SEED: u64 = 1;

/// An area's mean volume, posts an hour, drawn log-uniformly.
const AREA_POSTS_PER_HOUR: (f64, f64) = (2.0, 300.0);

/// Areas of an incident run besides the incident's own.
const OTHER_AREAS: (usize, usize) = (3, 5);

/// Areas of a decoy week.
const DECOY_AREAS: usize = 40;

/// Days of a decoy week with decoys (after the learning days).
const DECOY_DAYS: i64 = 7;

/// Volume at the quietest hour, as a share of the busiest hour's.
const NIGHT_LEVEL: f64 = 0.15;

/// The quietest hour of the day (UTC); the busiest is twelve hours later.
const QUIETEST_HOUR: f64 = 4.0;

/// Saturdays and Sundays are this much busier than weekdays.
const WEEKEND_LEVEL: f64 = 1.15;

/// An area's pool of authors: this many per post an hour of its volume ...
const AUTHORS_PER_HOURLY_POST: f64 = 8.0;

/// ... and at least this many.
const MIN_AUTHORS: usize = 10;

/// How skewed authors' activity is: a post's author is the pool's `u^skew`-th
/// (u uniform), so the first 1% of the pool writes a fifth of the posts.
const AUTHOR_SKEW: i32 = 3;

/// The pseudonymiser's key (any fixed 32 bytes).
const AUTHOR_KEY: &[u8; 32] = b"onrust detection bench key, 32 b";

/// The text of every simulated post: the engine keeps texts only as evidence.
const POST_TEXT: &str = "simulated post";

/// The share of an area's ordinary posts the classifier reads as tense (drawn per
/// area, uniformly).
const FALSE_POSITIVE_RATE: (f64, f64) = (0.03, 0.08);

/// The share of truly tense posts the classifier reads as tense.
const RECALL: f64 = 0.8;

/// The share of truly tense posts the classifier labels negative.
const NEGATIVE_SHARE_OF_TENSE: f64 = 0.85;

/// A decoy's effect is still taken as the cause of a false warning this long after
/// it ended (the longest window is an hour).
const AFTERGLOW_MS: i64 = HOUR_MS;

/// The cause of an incident's own happenings; its end is theirs.
const INCIDENT_CAUSE: &str = "incident";

/// Areas with at least this volume have stadiums: sport matches happen there.
const BUSY_AREA_POSTS_PER_HOUR: f64 = 30.0;

/// A storm reaches this share of the areas (a run of neighbouring ids).
const STORM_REACH: (f64, f64) = (0.25, 0.5);

/// A slow burn's volume at its end, as a factor of the area's ordinary volume.
const SLOW_BURN_VOLUME_FACTOR: (f64, f64) = (1.15, 1.4);

/// Party turns: the festivity's volume as a factor of the area's ordinary volume.
const PARTY_VOLUME_FACTOR: (f64, f64) = (3.0, 6.0);

/// Party turns: minutes of festivity before the tension begins.
const PARTY_LEAD_MINUTES: (i64, i64) = (120, 300);

/// Party turns: minutes the festivity takes to build up, and to die down after
/// the tension has.
const PARTY_FESTIVITY_RAMP_MINUTES: i64 = 60;

/// How a detector is built: a name, the engine configuration for a value of its
/// sensitivity knob, and the knob values to run.
struct Detector {
    /// Its name in the report.
    name: &'static str,
    /// The engine's configuration at a knob value.
    configure: fn(knob: f64) -> EngineConfig,
    /// The knob values to run, in increasing order.
    knobs: &'static [f64],
}

/// The detectors the harness compares. Another detector is one more entry here.
fn detectors() -> Vec<Detector> {
    vec![
        Detector {
            name: "windowed rules (before issue 15)",
            configure: windowed_rules,
            knobs: &[0.6, 0.8, 1.0, 1.25],
        },
        Detector {
            name: "accumulated evidence (shipped)",
            configure: accumulated_evidence,
            knobs: &[4.0, 2.0, 1.0, 0.5, 0.25],
        },
    ]
}

/// The rules as they were before accumulated evidence: the warning on one
/// 15-minute window's tension z, every tension rule's `threshold` and
/// `clear_below` multiplied by `knob` (1.0 is as they shipped).
fn windowed_rules(knob: f64) -> EngineConfig {
    let mut config = EngineConfig::default();
    for rule in &mut config.rules {
        if rule.metric == Metric::TensionEvidence {
            *rule = Rule {
                name: rule.name.clone(),
                severity: rule.severity,
                metric: Metric::TensionZ,
                window_minutes: 15,
                threshold: 4.0,
                clear_below: 2.0,
                min_posts: 5,
                min_tension_posts: 5,
                min_lift: 2.5,
                rising: false,
                hold_minutes: 3,
                clear_minutes: 15,
                cooldown_minutes: 30,
            };
        }
        if rule.metric == Metric::TensionZ {
            rule.threshold *= knob;
            rule.clear_below *= knob;
        }
    }
    config
}

/// The shipped rules, with the false-warning budget of accumulated evidence
/// (`signal.false_warnings_per_area_year`) set to `knob` (1.0 is as shipped).
fn accumulated_evidence(knob: f64) -> EngineConfig {
    let mut config = EngineConfig::default();
    config.budget.false_warnings_per_area_year = knob;
    config
}

/// The command line: `--quick`, `--seed N`.
struct Options {
    /// Fewer incidents and decoy weeks, for a smoke run.
    quick: bool,
    /// The seed every firehose is drawn from.
    seed: u64,
}

impl Options {
    /// The options of this process's arguments; a bad one ends it with status 2.
    fn from_args() -> Options {
        let mut options = Options {
            quick: false,
            seed: DEFAULT_SEED,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--seed" => match args.next().and_then(|seed| seed.parse().ok()) {
                    Some(seed) => options.seed = seed,
                    None => usage(),
                },
                // cargo passes `--bench` to every benchmark binary.
                "--bench" => {}
                _ => usage(),
            }
        }
        options
    }

    /// Incidents per setting.
    fn incidents_per_setting(&self) -> usize {
        if self.quick {
            QUICK_INCIDENTS_PER_SETTING
        } else {
            INCIDENTS_PER_SETTING
        }
    }

    /// Decoy weeks.
    fn decoy_weeks(&self) -> usize {
        if self.quick {
            QUICK_DECOY_WEEKS
        } else {
            DECOY_WEEKS
        }
    }

    /// The command that gives this report.
    fn command(&self) -> String {
        let mut command = format!("cargo bench --bench detection -- --seed {}", self.seed);
        if self.quick {
            command.push_str(" --quick");
        }
        command
    }
}

/// Says how to run the bench and ends the process with status 2.
fn usage() -> ! {
    eprintln!("usage: cargo bench --bench detection -- [--quick] [--seed N]");
    std::process::exit(2)
}

/// The kinds of incident simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// A sudden fight in a city.
    Spike,
    /// Tension building up over two hours in a small town.
    TownBuildUp,
    /// Hours of unrest in a district.
    District,
    /// Two days of a slowly rising tense share in a mid-size town.
    SlowBurn,
    /// A festive crowd that turns tense.
    PartyTurns,
}

impl Setting {
    /// Every setting, in report order.
    const ALL: [Setting; 5] = [
        Setting::Spike,
        Setting::TownBuildUp,
        Setting::District,
        Setting::SlowBurn,
        Setting::PartyTurns,
    ];

    /// Its name in the report.
    fn name(self) -> &'static str {
        match self {
            Setting::Spike => "spike",
            Setting::TownBuildUp => "town build-up",
            Setting::District => "district",
            Setting::SlowBurn => "slow burn",
            Setting::PartyTurns => "party turns",
        }
    }

    /// What it is, for the report.
    fn description(self) -> &'static str {
        match self {
            Setting::Spike => {
                "a city of 100–300 posts/h; tense posts rise within 1–10 min to 0.15–0.6× \
                 the city's hourly volume, for 20–90 min, from 20–120 authors"
            }
            Setting::TownBuildUp => {
                "a town of 3–8 posts/h; tense posts ramp up linearly over 1.5–2.5 h to 2–4× \
                 the town's hourly volume, 30–60 min at the peak, from 8–30 authors"
            }
            Setting::District => {
                "an area of 30–80 posts/h; tense posts rise over 30–120 min to 0.3–1× its \
                 hourly volume, 3–5 h at the peak, from 30–150 authors"
            }
            Setting::SlowBurn => {
                "a town of 10–30 posts/h; over 36–48 h the share of posts read as tense \
                 rises linearly from the area's 3–8% to 20–30%, volume up ×1.15–1.4"
            }
            Setting::PartyTurns => {
                "an area of 20–150 posts/h; a festive surge ×3–6 (not tense, positive) for \
                 2–5 h, then tense posts rise over 10–60 min to 0.1–0.4× the festive volume \
                 for 30–120 min, from 40–200 authors"
            }
        }
    }

    /// Its position in [`Setting::ALL`].
    fn index(self) -> usize {
        self as usize
    }

    /// The ranges its incidents are drawn from.
    fn shape(self) -> &'static Shape {
        match self {
            Setting::Spike => &SPIKE,
            Setting::TownBuildUp => &TOWN_BUILD_UP,
            Setting::District => &DISTRICT,
            Setting::SlowBurn => &SLOW_BURN,
            Setting::PartyTurns => &PARTY_TURNS,
        }
    }
}

/// The ranges one setting's incidents are drawn from, each incident anew and
/// uniformly.
struct Shape {
    /// The incident area's mean volume, posts an hour.
    posts_per_hour: (f64, f64),
    /// Minutes the tension takes to rise to its peak (linearly).
    ramp_minutes: (i64, i64),
    /// Minutes it stays at its peak.
    plateau_minutes: (i64, i64),
    /// Minutes it takes to die down (linearly).
    fade_minutes: (i64, i64),
    /// The peak: truly tense posts an hour per post an hour of the area's mean
    /// volume (party turns: of its festive volume; slow burn: the share of all its
    /// posts read as tense).
    peak: (f64, f64),
    /// Distinct authors of the tense posts.
    authors: (usize, usize),
}

/// A sudden fight in a city: tense posts jump within ten minutes.
const SPIKE: Shape = Shape {
    posts_per_hour: (100.0, 300.0),
    ramp_minutes: (1, 10),
    plateau_minutes: (20, 90),
    fade_minutes: (10, 30),
    peak: (0.15, 0.6),
    authors: (20, 120),
};

/// A build-up in a town of about five posts an hour: a two-hour linear ramp to two
/// to four times its normal volume in tense posts alone.
const TOWN_BUILD_UP: Shape = Shape {
    posts_per_hour: (3.0, 8.0),
    ramp_minutes: (90, 150),
    plateau_minutes: (30, 60),
    fade_minutes: (20, 40),
    peak: (2.0, 4.0),
    authors: (8, 30),
};

/// About six hours of unrest in a district.
const DISTRICT: Shape = Shape {
    posts_per_hour: (30.0, 80.0),
    ramp_minutes: (30, 120),
    plateau_minutes: (180, 300),
    fade_minutes: (30, 60),
    peak: (0.3, 1.0),
    authors: (30, 150),
};

/// Two days of a slowly rising tense share in a mid-size town.
const SLOW_BURN: Shape = Shape {
    posts_per_hour: (10.0, 30.0),
    ramp_minutes: (36 * 60, 48 * 60),
    plateau_minutes: (0, 120),
    fade_minutes: (30, 60),
    peak: (0.2, 0.3),
    authors: (40, 150),
};

/// The tense part of a party that turns (its festivity: [`PARTY_VOLUME_FACTOR`],
/// [`PARTY_LEAD_MINUTES`]).
const PARTY_TURNS: Shape = Shape {
    posts_per_hour: (20.0, 150.0),
    ramp_minutes: (10, 60),
    plateau_minutes: (30, 120),
    fade_minutes: (20, 40),
    peak: (0.1, 0.4),
    authors: (40, 200),
};

/// Something ordinary life brings that is not an incident.
struct Decoy {
    /// Its name, as the cause of a false warning.
    name: &'static str,
    /// How many a decoy week has.
    per_week: usize,
    /// Hours of the day (UTC) it starts between.
    start_hours: (f64, f64),
    /// Minutes it takes to build up, and to die down.
    ramp_minutes: i64,
    /// Minutes at full strength.
    plateau_minutes: (i64, i64),
    /// Its areas' volume at full strength, as a factor of their ordinary volume.
    volume_factor: Option<(f64, f64)>,
    /// The mood of its extra posts.
    mood: Mood,
    /// The share of its areas' ordinary posts the classifier reads as tense at full
    /// strength (when above the area's own rate).
    false_positive_rate: Option<(f64, f64)>,
    /// Which areas it reaches.
    reach: Reach,
}

/// National news: every area's posts read as tense a little more often for hours.
const NATIONAL_NEWS: Decoy = Decoy {
    name: "national news",
    per_week: 2,
    start_hours: (6.0, 22.0),
    ramp_minutes: 30,
    plateau_minutes: (120, 300),
    volume_factor: None,
    mood: Mood::Ordinary,
    false_positive_rate: Some((0.12, 0.15)),
    reach: Reach::Everywhere,
};

/// A festival: one area five times as busy, positive, misread no more than usual.
const FESTIVAL: Decoy = Decoy {
    name: "festival",
    per_week: 3,
    start_hours: (10.0, 18.0),
    ramp_minutes: 60,
    plateau_minutes: (180, 420),
    volume_factor: Some((4.0, 6.0)),
    mood: Mood::Festive,
    false_positive_rate: None,
    reach: Reach::OneArea,
};

/// A storm over a region: twice the volume, negative, misread a little more.
const STORM: Decoy = Decoy {
    name: "storm",
    per_week: 1,
    start_hours: (0.0, 24.0),
    ramp_minutes: 120,
    plateau_minutes: (240, 600),
    volume_factor: Some((1.8, 2.2)),
    mood: Mood::Stormy,
    false_positive_rate: Some((0.08, 0.10)),
    reach: Reach::Region,
};

/// A peaceful protest: three times the volume, and the classifier's known
/// weakness, a fifth of the posts read as tense, for three hours.
const PEACEFUL_PROTEST: Decoy = Decoy {
    name: "peaceful protest",
    per_week: 3,
    start_hours: (10.0, 16.0),
    ramp_minutes: 30,
    plateau_minutes: (150, 210),
    volume_factor: Some((2.5, 3.5)),
    mood: Mood::Ordinary,
    false_positive_rate: Some((0.17, 0.22)),
    reach: Reach::OneArea,
};

/// A sport match: a volume spike in a busy area, more posts read as tense, for
/// two hours.
const SPORT_MATCH: Decoy = Decoy {
    name: "sport match",
    per_week: 4,
    start_hours: (12.0, 21.0),
    ramp_minutes: 15,
    plateau_minutes: (90, 150),
    volume_factor: Some((2.5, 5.0)),
    mood: Mood::Ordinary,
    false_positive_rate: Some((0.11, 0.13)),
    reach: Reach::BusyArea,
};

/// Every decoy of a decoy week.
const DECOYS: [&Decoy; 5] = [
    &NATIONAL_NEWS,
    &FESTIVAL,
    &STORM,
    &PEACEFUL_PROTEST,
    &SPORT_MATCH,
];

/// Which areas a decoy reaches.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// One area, any.
    OneArea,
    /// One area of at least [`BUSY_AREA_POSTS_PER_HOUR`] (any when none is).
    BusyArea,
    /// A run of neighbouring areas, [`STORM_REACH`] of them.
    Region,
    /// Every area.
    Everywhere,
}

impl Reach {
    /// The areas (indexes into `areas`) it reaches this time.
    fn draw(self, rng: &mut fastrand::Rng, areas: &[SimArea]) -> Vec<usize> {
        let any = rng.usize(..areas.len());
        match self {
            Reach::OneArea => vec![any],
            Reach::BusyArea => {
                let busy: Vec<usize> = (0..areas.len())
                    .filter(|&i| areas[i].posts_per_hour >= BUSY_AREA_POSTS_PER_HOUR)
                    .collect();
                if busy.is_empty() {
                    vec![any]
                } else {
                    vec![busy[rng.usize(..busy.len())]]
                }
            }
            Reach::Region => {
                let reached = (areas.len() as f64 * uniform(rng, STORM_REACH)).ceil() as usize;
                (0..reached).map(|k| (any + k) % areas.len()).collect()
            }
            Reach::Everywhere => (0..areas.len()).collect(),
        }
    }
}

/// The mood of posts that are not tense: how often the classifier labels them
/// negative, and their sentiment.
#[derive(Debug, Clone, Copy)]
enum Mood {
    /// Everyday posts.
    Ordinary,
    /// A festival's or a party's: positive.
    Festive,
    /// A storm's: more negative.
    Stormy,
}

impl Mood {
    /// The share of such posts labelled negative.
    fn negative_share(self) -> f64 {
        match self {
            Mood::Ordinary => 0.2,
            Mood::Festive => 0.05,
            Mood::Stormy => 0.5,
        }
    }
}

/// A simulated area.
struct SimArea {
    /// Its id, `GM0001` and on.
    id: String,
    /// Its display name.
    name: String,
    /// Its mean volume over a weekday, posts an hour.
    posts_per_hour: f64,
    /// The share of its ordinary posts the classifier reads as tense.
    false_positive_rate: f64,
    /// Its authors, the most active first.
    authors: Vec<Pseudonym>,
}

/// How strongly something happens over time: rising linearly from 0 over the ramp,
/// 1 over the plateau, falling linearly to 0 over the fade.
#[derive(Debug, Clone, Copy)]
struct Profile {
    /// When it begins, epoch ms.
    start_ms: i64,
    /// How long it takes to reach full strength.
    ramp_ms: i64,
    /// How long it stays there.
    plateau_ms: i64,
    /// How long it takes to die down.
    fade_ms: i64,
}

impl Profile {
    /// A profile from `start_ms` with durations drawn from `shape`'s ranges.
    fn drawn(rng: &mut fastrand::Rng, shape: &Shape, start_ms: i64) -> Profile {
        Profile {
            start_ms,
            ramp_ms: minutes(rng, shape.ramp_minutes),
            plateau_ms: minutes(rng, shape.plateau_minutes),
            fade_ms: minutes(rng, shape.fade_minutes),
        }
    }

    /// When it is over.
    fn end_ms(&self) -> i64 {
        self.start_ms + self.ramp_ms + self.plateau_ms + self.fade_ms
    }

    /// Its strength at `at_ms`, from 0 to 1.
    fn intensity(&self, at_ms: i64) -> f64 {
        let since = at_ms - self.start_ms;
        if since < 0 || at_ms >= self.end_ms() {
            return 0.0;
        }
        if since < self.ramp_ms {
            return since as f64 / self.ramp_ms as f64;
        }
        let fading_for = since - self.ramp_ms - self.plateau_ms;
        if fading_for < 0 {
            1.0
        } else {
            1.0 - fading_for as f64 / self.fade_ms as f64
        }
    }
}

/// What a happening does to its areas' posts, at full strength.
enum Effect {
    /// Extra posts that are not tense, `volume_factor − 1` times the area's
    /// ordinary volume, in a mood.
    Crowd { volume_factor: f64, mood: Mood },
    /// The classifier reads this share of the area's posts that are not tense as
    /// tense (when above the area's own rate).
    Misreading { false_positive_rate: f64 },
    /// Truly tense posts, this many an hour, by these authors.
    Unrest {
        peak_posts_per_hour: f64,
        authors: Vec<Pseudonym>,
    },
    /// This share of the area's ordinary volume truly tense instead, by these
    /// authors.
    TenseShare {
        peak_share: f64,
        authors: Vec<Pseudonym>,
    },
}

/// Something that happens to some areas for a while.
struct Happening {
    /// What it is, as the cause of a false warning.
    cause: &'static str,
    /// The areas it happens in (indexes into the firehose's areas).
    areas: Vec<usize>,
    /// Its strength over time.
    profile: Profile,
    /// What it does.
    effect: Effect,
}

/// The incident of an incident run.
struct Incident {
    /// Its setting.
    setting: Setting,
    /// Its area (an index into the firehose's areas).
    area: usize,
    /// When it is over, epoch ms.
    end_ms: i64,
}

/// A simulated stream of posts: areas, what happens in them, and from when to when.
struct Firehose {
    /// Its first minute, epoch ms.
    start_ms: i64,
    /// Its end, epoch ms.
    end_ms: i64,
    /// Its areas.
    areas: Vec<SimArea>,
    /// What happens in them besides ordinary life.
    happenings: Vec<Happening>,
    /// The incident, for an incident run.
    incident: Option<Incident>,
}

impl Firehose {
    /// The end of the learning days: firings from then on are judged.
    fn judged_from_ms(&self) -> i64 {
        self.start_ms + WARMUP_DAYS * DAY_MS
    }
}

/// A post as the simulated classifier scored it, with the truth the measures need.
#[derive(Debug, Clone, Copy)]
struct SimPost {
    /// Event time, epoch ms.
    event_time_ms: i64,
    /// When it reaches the engine, epoch ms.
    arrival_ms: i64,
    /// Its area (an index into the firehose's areas).
    area: usize,
    /// Its author.
    author: Pseudonym,
    /// The classifier's tension.
    tension: f32,
    /// The classifier's sentiment.
    sentiment: f32,
    /// The classifier's negative label.
    negative: bool,
    /// Truly tense, part of the incident.
    from_incident: bool,
}

/// A number drawn uniformly from `range`.
fn uniform(rng: &mut fastrand::Rng, (low, high): (f64, f64)) -> f64 {
    low + (high - low) * rng.f64()
}

/// A number drawn log-uniformly from `range` (as many areas of 2 to 20 posts an
/// hour as of 20 to 200).
fn log_uniform(rng: &mut fastrand::Rng, (low, high): (f64, f64)) -> f64 {
    (low.ln() + (high.ln() - low.ln()) * rng.f64()).exp()
}

/// A whole number of minutes drawn uniformly from `range` (inclusive), in ms.
fn minutes(rng: &mut fastrand::Rng, (low, high): (i64, i64)) -> i64 {
    rng.i64(low..=high) * MINUTE_MS
}

/// How busy an area is at `at_ms` against its mean over a weekday: a daily cosine
/// from [`NIGHT_LEVEL`] at [`QUIETEST_HOUR`] to 1 twelve hours later, times
/// [`WEEKEND_LEVEL`] on Saturdays and Sundays.
fn rhythm(at_ms: i64) -> f64 {
    let hour = at_ms.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
    let daylight = (1.0 - (std::f64::consts::TAU * (hour - QUIETEST_HOUR) / 24.0).cos()) / 2.0;
    let level = NIGHT_LEVEL + (1.0 - NIGHT_LEVEL) * daylight;
    let mean_level = NIGHT_LEVEL + (1.0 - NIGHT_LEVEL) / 2.0;
    let weekend = if is_weekend(at_ms) {
        WEEKEND_LEVEL
    } else {
        1.0
    };
    level / mean_level * weekend
}

/// Whether `at_ms` falls on a Saturday or a Sunday (UTC; the epoch was a Thursday).
fn is_weekend(at_ms: i64) -> bool {
    let monday_first = (at_ms.div_euclid(DAY_MS) + 3).rem_euclid(7);
    monday_first >= 5
}

/// `count` pseudonymous authors, named after `prefix`.
fn author_pool(pseudonymiser: &Pseudonymiser, prefix: &str, count: usize) -> Vec<Pseudonym> {
    (0..count)
        .map(|n| pseudonymiser.pseudonym(&format!("{prefix}/author-{n}")))
        .collect()
}

/// The `number`th area (from 0) of a firehose, of `posts_per_hour`, with its own
/// false-positive rate and authors.
fn new_area(
    rng: &mut fastrand::Rng,
    pseudonymiser: &Pseudonymiser,
    number: usize,
    posts_per_hour: f64,
) -> SimArea {
    let id = format!("GM{:04}", number + 1);
    let authors = ((posts_per_hour * AUTHORS_PER_HOURLY_POST) as usize).max(MIN_AUTHORS);
    SimArea {
        name: format!("Simulated area {}", number + 1),
        posts_per_hour,
        false_positive_rate: uniform(rng, FALSE_POSITIVE_RATE),
        authors: author_pool(pseudonymiser, &id, authors),
        id,
    }
}

/// An author of an area's ordinary post: the few most active accounts write much
/// of what it posts (see [`AUTHOR_SKEW`]).
fn ordinary_author(rng: &mut fastrand::Rng, authors: &[Pseudonym]) -> Pseudonym {
    let rank = (rng.f64().powi(AUTHOR_SKEW) * authors.len() as f64) as usize;
    authors[rank.min(authors.len() - 1)]
}

/// The classifier's tension for a post it reads as tense with probability
/// `read_as_tense`: 0.5 (the engine's threshold) or more when it does, below when not.
fn scored_tension(rng: &mut fastrand::Rng, read_as_tense: f64) -> f32 {
    if rng.f64() < read_as_tense {
        0.5 + 0.5 * rng.f32()
    } else {
        0.499 * rng.f32()
    }
}

/// The classifier's sentiment, consistent with its negative label and the mood.
fn sentiment(rng: &mut fastrand::Rng, negative: bool, mood: Mood) -> f32 {
    match (negative, mood) {
        (true, _) => -0.2 - 0.8 * rng.f32(),
        (false, Mood::Festive) => 0.3 + 0.7 * rng.f32(),
        (false, _) => 0.8 * rng.f32(),
    }
}

/// A post that is not tense, at `at_ms`, read as tense at `false_positive_rate`.
fn ordinary_post(
    rng: &mut fastrand::Rng,
    area_index: usize,
    area: &SimArea,
    at_ms: i64,
    false_positive_rate: f64,
    mood: Mood,
) -> SimPost {
    let negative = rng.f64() < mood.negative_share();
    SimPost {
        event_time_ms: at_ms,
        arrival_ms: at_ms + rng.i64(0..=MAX_ARRIVAL_DELAY_MS),
        area: area_index,
        author: ordinary_author(rng, &area.authors),
        tension: scored_tension(rng, false_positive_rate),
        sentiment: sentiment(rng, negative, mood),
        negative,
        from_incident: false,
    }
}

/// A truly tense post of an incident, at `at_ms`, by one of `authors`, read as
/// tense at [`RECALL`].
fn incident_post(
    rng: &mut fastrand::Rng,
    area_index: usize,
    at_ms: i64,
    authors: &[Pseudonym],
) -> SimPost {
    let negative = rng.f64() < NEGATIVE_SHARE_OF_TENSE;
    SimPost {
        event_time_ms: at_ms,
        arrival_ms: at_ms + rng.i64(0..=MAX_ARRIVAL_DELAY_MS),
        area: area_index,
        author: authors[rng.usize(..authors.len())],
        tension: scored_tension(rng, RECALL),
        sentiment: sentiment(rng, negative, Mood::Ordinary),
        negative,
        from_incident: true,
    }
}

/// The event times of a Poisson stream of `per_minute` posts a minute within the
/// minute from `minute_ms`, in order, into `times` (emptied first).
fn arrivals(rng: &mut fastrand::Rng, per_minute: f64, minute_ms: i64, times: &mut Vec<i64>) {
    times.clear();
    if per_minute <= 0.0 {
        return;
    }
    let mut at = 0.0;
    loop {
        at -= (1.0 - rng.f64()).ln() / per_minute;
        if at >= 1.0 {
            return;
        }
        times.push(minute_ms + (at * MINUTE_MS as f64) as i64);
    }
}

/// Every post of `firehose`, in arrival order.
fn simulate(firehose: &Firehose, rng: &mut fastrand::Rng) -> Vec<SimPost> {
    let mut posts = Vec::new();
    let mut times = Vec::new();
    for (index, area) in firehose.areas.iter().enumerate() {
        let happenings: Vec<&Happening> = firehose
            .happenings
            .iter()
            .filter(|happening| happening.areas.contains(&index))
            .collect();
        let mut minute_ms = firehose.start_ms;
        while minute_ms < firehose.end_ms {
            let middle_ms = minute_ms + MINUTE_MS / 2;
            let ordinary_per_minute = area.posts_per_hour * rhythm(middle_ms) / 60.0;
            let mut false_positive_rate = area.false_positive_rate;
            let mut tense_share = 0.0;
            for happening in &happenings {
                let intensity = happening.profile.intensity(middle_ms);
                match &happening.effect {
                    Effect::Misreading {
                        false_positive_rate: rate,
                    } => {
                        let misread = area.false_positive_rate
                            + (rate - area.false_positive_rate) * intensity;
                        false_positive_rate = false_positive_rate.max(misread);
                    }
                    Effect::TenseShare { peak_share, .. } => tense_share += peak_share * intensity,
                    Effect::Crowd { .. } | Effect::Unrest { .. } => {}
                }
            }
            let tense_share = tense_share.min(1.0);
            arrivals(
                rng,
                ordinary_per_minute * (1.0 - tense_share),
                minute_ms,
                &mut times,
            );
            for &at_ms in &times {
                posts.push(ordinary_post(
                    rng,
                    index,
                    area,
                    at_ms,
                    false_positive_rate,
                    Mood::Ordinary,
                ));
            }
            for happening in &happenings {
                let intensity = happening.profile.intensity(middle_ms);
                if intensity <= 0.0 {
                    continue;
                }
                match &happening.effect {
                    Effect::Crowd {
                        volume_factor,
                        mood,
                    } => {
                        let per_minute = ordinary_per_minute * (volume_factor - 1.0) * intensity;
                        arrivals(rng, per_minute, minute_ms, &mut times);
                        for &at_ms in &times {
                            posts.push(ordinary_post(
                                rng,
                                index,
                                area,
                                at_ms,
                                false_positive_rate,
                                *mood,
                            ));
                        }
                    }
                    Effect::Unrest {
                        peak_posts_per_hour,
                        authors,
                    } => {
                        arrivals(
                            rng,
                            peak_posts_per_hour / 60.0 * intensity,
                            minute_ms,
                            &mut times,
                        );
                        for &at_ms in &times {
                            posts.push(incident_post(rng, index, at_ms, authors));
                        }
                    }
                    Effect::TenseShare {
                        peak_share,
                        authors,
                    } => {
                        let per_minute = ordinary_per_minute * (peak_share * intensity).min(1.0);
                        arrivals(rng, per_minute, minute_ms, &mut times);
                        for &at_ms in &times {
                            posts.push(incident_post(rng, index, at_ms, authors));
                        }
                    }
                    Effect::Misreading { .. } => {}
                }
            }
            minute_ms += MINUTE_MS;
        }
    }
    posts.sort_by_key(|post| post.arrival_ms);
    posts
}

/// Unrest in area 0: truly tense posts rising to a peak of `shape.peak` times the
/// area's mean volume (a spike, a town's build-up, a district's unrest).
fn unrest(
    rng: &mut fastrand::Rng,
    shape: &Shape,
    onset_ms: i64,
    posts_per_hour: f64,
    authors: Vec<Pseudonym>,
) -> Vec<Happening> {
    vec![Happening {
        cause: INCIDENT_CAUSE,
        areas: vec![0],
        profile: Profile::drawn(rng, shape, onset_ms),
        effect: Effect::Unrest {
            peak_posts_per_hour: posts_per_hour * uniform(rng, shape.peak),
            authors,
        },
    }]
}

/// A slow burn in area 0: a share of its posts truly tense, rising until the share
/// the classifier reads as tense reaches `shape.peak`, while its volume rises by
/// [`SLOW_BURN_VOLUME_FACTOR`].
fn slow_burn(
    rng: &mut fastrand::Rng,
    shape: &Shape,
    onset_ms: i64,
    area: &SimArea,
    authors: Vec<Pseudonym>,
) -> Vec<Happening> {
    let profile = Profile::drawn(rng, shape, onset_ms);
    let volume_factor = uniform(rng, SLOW_BURN_VOLUME_FACTOR);
    let read_as_tense = uniform(rng, shape.peak);
    let misread = area.false_positive_rate;
    // Of the ordinary volume v, a share s truly tense, and (factor − 1)·v more not
    // tense: read as tense are s·v·RECALL + (1 − s + factor − 1)·v·misread, which
    // is `read_as_tense` of factor·v when s is this.
    let peak_share = ((read_as_tense - misread) * volume_factor / (RECALL - misread)).min(1.0);
    vec![
        Happening {
            cause: INCIDENT_CAUSE,
            areas: vec![0],
            profile,
            effect: Effect::TenseShare {
                peak_share,
                authors,
            },
        },
        Happening {
            cause: INCIDENT_CAUSE,
            areas: vec![0],
            profile,
            effect: Effect::Crowd {
                volume_factor,
                mood: Mood::Ordinary,
            },
        },
    ]
}

/// A party in area 0 from `festivity_ms` that turns: a festive crowd of
/// [`PARTY_VOLUME_FACTOR`], and after [`PARTY_LEAD_MINUTES`] tense calls rising to
/// `shape.peak` times the festive volume; the festivity lasts until the tension
/// has died down.
fn party_turns(
    rng: &mut fastrand::Rng,
    shape: &Shape,
    festivity_ms: i64,
    posts_per_hour: f64,
    authors: Vec<Pseudonym>,
) -> Vec<Happening> {
    let volume_factor = uniform(rng, PARTY_VOLUME_FACTOR);
    let tension_ms = festivity_ms + minutes(rng, PARTY_LEAD_MINUTES);
    let mut happenings = unrest(
        rng,
        shape,
        tension_ms,
        posts_per_hour * volume_factor,
        authors,
    );
    let ramp_ms = PARTY_FESTIVITY_RAMP_MINUTES * MINUTE_MS;
    let tension_end_ms = happenings
        .iter()
        .map(|happening| happening.profile.end_ms())
        .max()
        .unwrap_or(tension_ms);
    happenings.push(Happening {
        cause: "the party's festivity",
        areas: vec![0],
        profile: Profile {
            start_ms: festivity_ms,
            ramp_ms,
            plateau_ms: tension_end_ms - festivity_ms - ramp_ms,
            fade_ms: ramp_ms,
        },
        effect: Effect::Crowd {
            volume_factor,
            mood: Mood::Festive,
        },
    });
    happenings
}

/// An incident run of `setting`: the incident's area (area 0) and a few others of
/// any volume, three days of ordinary traffic, then the incident at any time of
/// the fourth day, and two hours after it.
fn incident_run(
    rng: &mut fastrand::Rng,
    pseudonymiser: &Pseudonymiser,
    setting: Setting,
) -> Firehose {
    let shape = setting.shape();
    let start_ms = FIRST_MONDAY_MS + rng.i64(0..7) * DAY_MS;
    let onset_ms = start_ms + WARMUP_DAYS * DAY_MS + rng.i64(0..DAY_MS);
    let posts_per_hour = uniform(rng, shape.posts_per_hour);
    let mut areas = vec![new_area(rng, pseudonymiser, 0, posts_per_hour)];
    for number in 1..=rng.usize(OTHER_AREAS.0..=OTHER_AREAS.1) {
        let volume = log_uniform(rng, AREA_POSTS_PER_HOUR);
        areas.push(new_area(rng, pseudonymiser, number, volume));
    }
    let authors = author_pool(
        pseudonymiser,
        "incident",
        rng.usize(shape.authors.0..=shape.authors.1),
    );
    let happenings = match setting {
        Setting::Spike | Setting::TownBuildUp | Setting::District => {
            unrest(rng, shape, onset_ms, posts_per_hour, authors)
        }
        Setting::SlowBurn => slow_burn(rng, shape, onset_ms, &areas[0], authors),
        Setting::PartyTurns => party_turns(rng, shape, onset_ms, posts_per_hour, authors),
    };
    let end_ms = happenings
        .iter()
        .filter(|happening| happening.cause == INCIDENT_CAUSE)
        .map(|happening| happening.profile.end_ms())
        .max()
        .unwrap_or(onset_ms);
    Firehose {
        start_ms,
        end_ms: end_ms + DETECTION_GRACE_MS,
        areas,
        happenings,
        incident: Some(Incident {
            setting,
            area: 0,
            end_ms,
        }),
    }
}

/// One occurrence of `decoy` on one of the [`DECOY_DAYS`] from `from_ms`.
fn decoy_happenings(
    rng: &mut fastrand::Rng,
    decoy: &Decoy,
    areas: &[SimArea],
    from_ms: i64,
) -> Vec<Happening> {
    let day_ms = from_ms + rng.i64(0..DECOY_DAYS) * DAY_MS;
    let profile = Profile {
        start_ms: day_ms + (uniform(rng, decoy.start_hours) * HOUR_MS as f64) as i64,
        ramp_ms: decoy.ramp_minutes * MINUTE_MS,
        plateau_ms: minutes(rng, decoy.plateau_minutes),
        fade_ms: decoy.ramp_minutes * MINUTE_MS,
    };
    let reached = decoy.reach.draw(rng, areas);
    let mut happenings = Vec::new();
    if let Some(range) = decoy.volume_factor {
        happenings.push(Happening {
            cause: decoy.name,
            areas: reached.clone(),
            profile,
            effect: Effect::Crowd {
                volume_factor: uniform(rng, range),
                mood: decoy.mood,
            },
        });
    }
    if let Some(range) = decoy.false_positive_rate {
        happenings.push(Happening {
            cause: decoy.name,
            areas: reached,
            profile,
            effect: Effect::Misreading {
                false_positive_rate: uniform(rng, range),
            },
        });
    }
    happenings
}

/// A decoy week: [`DECOY_AREAS`] areas of mixed volume, three days of ordinary
/// traffic, then [`DECOY_DAYS`] days with every [`Decoy`] its number of times
/// and no incident.
fn decoy_week(rng: &mut fastrand::Rng, pseudonymiser: &Pseudonymiser) -> Firehose {
    let start_ms = FIRST_MONDAY_MS + rng.i64(0..7) * DAY_MS;
    let areas: Vec<SimArea> = (0..DECOY_AREAS)
        .map(|number| {
            let volume = log_uniform(rng, AREA_POSTS_PER_HOUR);
            new_area(rng, pseudonymiser, number, volume)
        })
        .collect();
    let decoys_from_ms = start_ms + WARMUP_DAYS * DAY_MS;
    let mut happenings = Vec::new();
    for decoy in DECOYS {
        for _ in 0..decoy.per_week {
            happenings.extend(decoy_happenings(rng, decoy, &areas, decoys_from_ms));
        }
    }
    Firehose {
        start_ms,
        end_ms: decoys_from_ms + DECOY_DAYS * DAY_MS,
        areas,
        happenings,
        incident: None,
    }
}

/// An alert that fired for an area.
#[derive(Debug, Clone, Copy)]
struct Firing {
    /// Its area (an index into the firehose's areas).
    area: usize,
    /// Its severity.
    severity: Severity,
    /// The end of the minute whose closing fired it, epoch ms (event time).
    at_ms: i64,
}

/// Collects the firings of one replay from the engine's events.
struct FiringLog<'a> {
    /// Areas by id.
    areas: HashMap<&'a str, usize>,
    /// Each rule's hold, in minutes, by name: an alert fires at the close of the
    /// last minute of its hold.
    hold_minutes: HashMap<String, i64>,
    /// The firings so far.
    firings: Vec<Firing>,
}

impl<'a> FiringLog<'a> {
    /// An empty log for `firehose`'s areas under `config`'s rules.
    fn new(firehose: &'a Firehose, config: &EngineConfig) -> FiringLog<'a> {
        FiringLog {
            areas: firehose
                .areas
                .iter()
                .enumerate()
                .map(|(index, area)| (area.id.as_str(), index))
                .collect(),
            hold_minutes: config
                .rules
                .iter()
                .map(|rule| (rule.name.clone(), i64::from(rule.hold_minutes)))
                .collect(),
            firings: Vec::new(),
        }
    }

    /// Takes the area firings out of `events`, which came out while the engine
    /// closed the minutes after `closed_before` up to `closed_after`. The national
    /// `info` has no area and is left out.
    fn take(
        &mut self,
        events: &mut Vec<AlertEvent>,
        closed_before: Option<i64>,
        closed_after: Option<i64>,
    ) {
        for event in events.drain(..) {
            if event.status != AlertStatus::Firing {
                continue;
            }
            let Some(&area) = self.areas.get(event.area.id.as_str()) else {
                continue;
            };
            let hold = self
                .hold_minutes
                .get(&event.rule)
                .expect("an area's alert comes from a configured rule");
            let since_minute = DateTime::parse_from_rfc3339(&event.starts_at)
                .expect("the engine writes starts_at in RFC 3339")
                .timestamp_millis()
                .div_euclid(MINUTE_MS);
            // Accumulated evidence starts at the change point it estimates; its
            // horizon runs from there to the minute it fired.
            let fired_minute = match &event.observed.accumulated {
                Some(accumulated) => since_minute + accumulated.horizon_minutes - 1,
                None => since_minute + hold - 1,
            };
            assert!(
                closed_before.is_none_or(|closed| closed < fired_minute)
                    && closed_after.is_some_and(|closed| fired_minute <= closed),
                "{} fired at minute {fired_minute}, outside the minutes just closed \
                 ({closed_before:?}, {closed_after:?}]: a hold is no longer consecutive minutes",
                event.rule
            );
            self.firings.push(Firing {
                area,
                severity: event.severity,
                at_ms: (fired_minute + 1) * MINUTE_MS,
            });
        }
    }
}

/// Replays `posts` (in arrival order) through a new engine with `config`: the area
/// firings, and how many posts the engine found late.
fn replay(firehose: &Firehose, posts: &[SimPost], config: EngineConfig) -> (Vec<Firing>, u64) {
    let mut log = FiringLog::new(firehose, &config);
    let mut engine = Engine::new(config);
    let mut events = Vec::new();
    let mut id = String::new();
    for (number, post) in posts.iter().enumerate() {
        id.clear();
        write!(id, "{number}").expect("writing to a String");
        let area = &firehose.areas[post.area];
        let closed_before = engine.closed_minute();
        engine.add(
            &ScoredPost {
                id: &id,
                text: POST_TEXT,
                author: Some(post.author),
                event_time_ms: post.event_time_ms,
                area: Some((&area.id, &area.name)),
                located: Located::AreaField,
                tension: post.tension,
                sentiment: post.sentiment,
                negative: post.negative,
            },
            &mut events,
        );
        if !events.is_empty() {
            log.take(&mut events, closed_before, engine.closed_minute());
        }
    }
    let closed_before = engine.closed_minute();
    engine.finish(&mut events);
    log.take(&mut events, closed_before, engine.closed_minute());
    (log.firings, engine.counters().late)
}

/// What one detector at one knob value did over every firehose.
struct Tally {
    /// Per setting, per incident: the delay of its first warning, if detected.
    warning_delays: Vec<Vec<Option<i64>>>,
    /// Per setting, per incident: the delay of its first info, if any.
    info_delays: Vec<Vec<Option<i64>>>,
    /// False warnings by where and what caused them.
    false_warnings: BTreeMap<String, usize>,
    /// Area time judged for false warnings, area-ms.
    judged_area_ms: i64,
    /// Warnings in the learning days, not judged.
    warmup_warnings: usize,
    /// Area time of the learning days, area-ms.
    warmup_area_ms: i64,
    /// Posts the engine found late.
    late_posts: u64,
}

impl Tally {
    /// Nothing counted yet.
    fn new() -> Tally {
        Tally {
            warning_delays: vec![Vec::new(); Setting::ALL.len()],
            info_delays: vec![Vec::new(); Setting::ALL.len()],
            false_warnings: BTreeMap::new(),
            judged_area_ms: 0,
            warmup_warnings: 0,
            warmup_area_ms: 0,
            late_posts: 0,
        }
    }

    /// False warnings in all.
    fn false_warning_count(&self) -> usize {
        self.false_warnings.values().sum()
    }

    /// False warnings per 1,000 area-days judged.
    fn false_warnings_per_thousand_area_days(&self) -> f64 {
        per_thousand_area_days(self.false_warning_count(), self.judged_area_ms)
    }

    /// Judges the `firings` of one replay of `firehose`, whose incident's first
    /// truly tense post was at `onset_ms` (none: it had none).
    fn judge(&mut self, firehose: &Firehose, onset_ms: Option<i64>, firings: &[Firing]) {
        let judged_from_ms = firehose.judged_from_ms();
        let areas = firehose.areas.len() as i64;
        self.warmup_area_ms += areas * (judged_from_ms - firehose.start_ms);
        let incident = firehose
            .incident
            .as_ref()
            .map(|incident| (incident, onset_ms.unwrap_or(firehose.end_ms)));
        self.judged_area_ms += match incident {
            Some((_, onset_ms)) => {
                (areas - 1) * (firehose.end_ms - judged_from_ms) + (onset_ms - judged_from_ms)
            }
            None => areas * (firehose.end_ms - judged_from_ms),
        };
        let mut warning = None;
        let mut info = None;
        for firing in firings {
            let raises_warning = firing.severity >= Severity::Warning;
            if firing.at_ms < judged_from_ms {
                self.warmup_warnings += usize::from(raises_warning);
                continue;
            }
            match incident {
                Some((incident, onset_ms))
                    if firing.area == incident.area && firing.at_ms >= onset_ms =>
                {
                    if firing.at_ms > incident.end_ms + DETECTION_GRACE_MS {
                        continue;
                    }
                    let first = if raises_warning {
                        &mut warning
                    } else {
                        &mut info
                    };
                    first.get_or_insert(firing.at_ms - onset_ms);
                }
                _ if raises_warning => {
                    let cause = false_warning_cause(firehose, firing);
                    *self.false_warnings.entry(cause).or_default() += 1;
                }
                _ => {}
            }
        }
        if let Some((incident, _)) = incident {
            let setting = incident.setting.index();
            self.warning_delays[setting].push(warning);
            self.info_delays[setting].push(info);
        }
    }
}

/// Where a false warning fired and what happened in its area then: the decoys
/// (or the party's festivity) under way or ended within [`AFTERGLOW_MS`].
fn false_warning_cause(firehose: &Firehose, firing: &Firing) -> String {
    let place = match &firehose.incident {
        None => "decoy week",
        Some(incident) if incident.area == firing.area => "incident area, before its incident",
        Some(_) => "incident run, other area",
    };
    let mut causes: Vec<&str> = firehose
        .happenings
        .iter()
        .filter(|happening| {
            happening.areas.contains(&firing.area)
                && happening.profile.start_ms <= firing.at_ms
                && firing.at_ms <= happening.profile.end_ms() + AFTERGLOW_MS
        })
        .map(|happening| happening.cause)
        .collect();
    causes.sort_unstable();
    causes.dedup();
    if causes.is_empty() {
        format!("{place}: ordinary traffic")
    } else {
        format!("{place}: {}", causes.join(" + "))
    }
}

/// `count` events over `area_ms` of area time, per 1,000 area-days.
fn per_thousand_area_days(count: usize, area_ms: i64) -> f64 {
    if area_ms == 0 {
        return 0.0;
    }
    count as f64 * 1000.0 / (area_ms as f64 / DAY_MS as f64)
}

/// The share detected of `delays`, and the median, 90th percentile and largest of
/// the detected ones (nearest rank).
struct DelayStats {
    /// Share of incidents detected.
    detected: f64,
    /// Median, p90 and max delay of the detected, ms.
    quantiles: Option<(i64, i64, i64)>,
}

impl DelayStats {
    /// The statistics of `delays` (none: not detected).
    fn of(delays: &[Option<i64>]) -> DelayStats {
        let mut detected: Vec<i64> = delays.iter().flatten().copied().collect();
        detected.sort_unstable();
        let rank = |quantile: f64| {
            let index = (quantile * detected.len() as f64).ceil() as usize;
            detected[index.clamp(1, detected.len()) - 1]
        };
        DelayStats {
            detected: if delays.is_empty() {
                0.0
            } else {
                detected.len() as f64 / delays.len() as f64
            },
            quantiles: (!detected.is_empty()).then(|| (rank(0.5), rank(0.9), rank(1.0))),
        }
    }

    /// The median and the share detected, for the AMOC table.
    fn median_and_share(&self) -> String {
        match self.quantiles {
            Some((median, _, _)) => format!("{} ({})", duration(median), percent(self.detected)),
            None => format!("– ({})", percent(self.detected)),
        }
    }
}

/// A delay for the report: minutes up to two hours, hours beyond.
fn duration(ms: i64) -> String {
    let minutes = ms as f64 / MINUTE_MS as f64;
    if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}

/// A share as a whole percentage.
fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// A count with thousands separated by commas.
fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// What was simulated, for the report's head.
struct Simulated {
    /// Incident runs.
    incident_runs: usize,
    /// Decoy weeks.
    decoy_weeks: usize,
    /// Posts replayed per detector and knob.
    posts: u64,
}

/// Prints the Markdown report.
fn report(
    options: &Options,
    simulated: &Simulated,
    detectors: &[Detector],
    tallies: &[Vec<Tally>],
) {
    println!("# Detection quality on simulated firehoses\n");
    println!("Command: `{}`.\n", options.command());
    let judged_area_days = tallies
        .first()
        .and_then(|knobs| knobs.first())
        .map_or(0.0, |tally| tally.judged_area_ms as f64 / DAY_MS as f64);
    println!(
        "{} incident runs ({} per setting) and {} decoy weeks of {} areas: {} posts, replayed \
         through the engine once per detector and knob; {:.0} area-days judged for false \
         warnings (after {} days of learning in every run).\n",
        simulated.incident_runs,
        options.incidents_per_setting(),
        simulated.decoy_weeks,
        DECOY_AREAS,
        thousands(simulated.posts),
        judged_area_days,
        WARMUP_DAYS,
    );
    println!(
        "Delay: from an incident's first truly tense post to the end of the minute whose \
         closing fired its area's first warning or critical alert (event time; a live daemon \
         sends it the allowed lateness, 5 min, later). Detected: such an alert before the \
         incident's end + 2 h. Info: the same for the area's first info alert (a volume \
         surge) at or after that post; one already firing then (a party's festivity) is not \
         counted. Medians and percentiles are of the detected incidents. False warnings count \
         firings: an episode that fires both warning and critical counts twice.\n"
    );
    println!("Settings:\n");
    for setting in Setting::ALL {
        println!("- **{}**: {}.", setting.name(), setting.description());
    }
    println!();
    for (detector, knobs) in detectors.iter().zip(tallies) {
        println!("## {}\n", detector.name);
        for (knob, tally) in detector.knobs.iter().zip(knobs) {
            knob_section(*knob, tally);
        }
        amoc_table(detector, knobs);
    }
}

/// The report of one knob value: detection per setting, then false warnings.
fn knob_section(knob: f64, tally: &Tally) {
    println!("### knob {knob:.2}\n");
    println!(
        "| setting | incidents | detected | median | p90 | max | info detected | info median |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for setting in Setting::ALL {
        let warnings = &tally.warning_delays[setting.index()];
        let stats = DelayStats::of(warnings);
        let info = DelayStats::of(&tally.info_delays[setting.index()]);
        let (median, p90, max) = match stats.quantiles {
            Some((median, p90, max)) => (duration(median), duration(p90), duration(max)),
            None => ("–".into(), "–".into(), "–".into()),
        };
        let info_median = info
            .quantiles
            .map_or_else(|| "–".into(), |(median, _, _)| duration(median));
        println!(
            "| {} | {} | {} | {median} | {p90} | {max} | {} | {info_median} |",
            setting.name(),
            warnings.len(),
            percent(stats.detected),
            percent(info.detected),
        );
    }
    println!(
        "\nFalse warnings: {} in {:.0} area-days, **{:.1} per 1,000 area-days** (in the \
         learning days, not counted: {} in {:.0} area-days). Posts found late: {}.\n",
        tally.false_warning_count(),
        tally.judged_area_ms as f64 / DAY_MS as f64,
        tally.false_warnings_per_thousand_area_days(),
        tally.warmup_warnings,
        tally.warmup_area_ms as f64 / DAY_MS as f64,
        tally.late_posts,
    );
    if !tally.false_warnings.is_empty() {
        println!("| where: what was happening | false warnings |");
        println!("|---|---:|");
        for (cause, count) in &tally.false_warnings {
            println!("| {cause} | {count} |");
        }
        println!();
    }
}

/// The trade-off over the knob values: false warnings against each setting's
/// median delay (and share detected).
fn amoc_table(detector: &Detector, knobs: &[Tally]) {
    println!("### AMOC: false warnings against delay\n");
    let names: Vec<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
    println!(
        "| knob | false warnings / 1,000 area-days | {} |",
        names.join(" | ")
    );
    println!("|---:|---:|{}", "---:|".repeat(names.len()));
    for (knob, tally) in detector.knobs.iter().zip(knobs) {
        let cells: Vec<String> = Setting::ALL
            .iter()
            .map(|setting| {
                DelayStats::of(&tally.warning_delays[setting.index()]).median_and_share()
            })
            .collect();
        println!(
            "| {knob:.2} | {:.1} | {} |",
            tally.false_warnings_per_thousand_area_days(),
            cells.join(" | ")
        );
    }
    println!();
}

/// One firehose to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// An incident of a setting.
    Incident(Setting),
    /// A decoy week.
    DecoyWeek,
}

fn main() {
    let options = Options::from_args();
    let started = Instant::now();
    let pseudonymiser = Pseudonymiser::new(AUTHOR_KEY).expect("a 32-byte key is long enough");
    let detectors = detectors();
    let mut tallies: Vec<Vec<Tally>> = detectors
        .iter()
        .map(|detector| detector.knobs.iter().map(|_| Tally::new()).collect())
        .collect();
    let mut runs: Vec<Run> = Setting::ALL
        .iter()
        .flat_map(|&setting| {
            std::iter::repeat_n(Run::Incident(setting), options.incidents_per_setting())
        })
        .collect();
    runs.extend(std::iter::repeat_n(Run::DecoyWeek, options.decoy_weeks()));
    let mut seeds = fastrand::Rng::with_seed(options.seed);
    let mut simulated = Simulated {
        incident_runs: 0,
        decoy_weeks: 0,
        posts: 0,
    };
    for (number, run) in runs.iter().enumerate() {
        let mut rng = fastrand::Rng::with_seed(seeds.u64(..));
        let firehose = match run {
            Run::Incident(setting) => {
                simulated.incident_runs += 1;
                incident_run(&mut rng, &pseudonymiser, *setting)
            }
            Run::DecoyWeek => {
                simulated.decoy_weeks += 1;
                decoy_week(&mut rng, &pseudonymiser)
            }
        };
        let posts = simulate(&firehose, &mut rng);
        simulated.posts += posts.len() as u64;
        let onset_ms = posts
            .iter()
            .filter(|post| post.from_incident)
            .map(|post| post.event_time_ms)
            .min();
        for (detector, knobs) in detectors.iter().zip(&mut tallies) {
            for (knob, tally) in detector.knobs.iter().zip(knobs.iter_mut()) {
                let (firings, late) = replay(&firehose, &posts, (detector.configure)(*knob));
                tally.late_posts += late;
                tally.judge(&firehose, onset_ms, &firings);
            }
        }
        let last_of_its_kind = runs.get(number + 1) != Some(run);
        if last_of_its_kind {
            eprintln!(
                "detection: {:?} done after {:.0} s",
                run,
                started.elapsed().as_secs_f64()
            );
        }
    }
    report(&options, &simulated, &detectors, &tallies);
    eprintln!(
        "detection: {} posts simulated, {:.0} s in all",
        thousands(simulated.posts),
        started.elapsed().as_secs_f64()
    );
}
