//! Event time across partitions (proptest): the posts of one stream, split over
//! any number of partitions and read in any interleaving that alignment allows,
//! give the alert events of the stream read in order, as `replay` reads a file:
//! the same alerts, times and figures. Which of a window's tense posts are shown
//! as evidence may differ: an area keeps a bounded number of candidates, and
//! posts running ahead of the closed minute take their places in arrival order.

use onrust_signal::engine::{AlertEvent, Engine, EngineConfig, ScoredPost};
use onrust_signal::inputs::Inputs;
use onrust_signal::watermark::Watermarks;
use onrust_signal::Located;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const MINUTE_MS: i64 = 60_000;
const LATENESS_MS: i64 = 5 * MINUTE_MS;
const SKEW_MS: i64 = 10 * MINUTE_MS;
/// Long enough that no partition idles while the stream lasts.
const IDLE_MS: i64 = i64::MAX / 4;

const AREAS: [&str; 4] = ["GM0014", "GM0017", "GM0363", "GM0599"];

/// One post of the stream: event time, area, tension, author.
#[derive(Debug, Clone)]
struct Post {
    id: String,
    at_ms: i64,
    area: usize,
    tension: f32,
    author: u8,
}

/// Two days of background in four areas, then an incident in one of them: every
/// post within the allowed lateness of the newest before it, so that nothing is
/// late in the stream's own order.
fn stream() -> impl Strategy<Value = Vec<Post>> {
    (any::<u64>(), 0usize..4, 20i64..120, 0.3f64..0.8).prop_map(
        |(seed, incident_area, incident_minutes, incident_share)| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let start = 2 * 24 * 60;
            let mut posts = Vec::new();
            for minute in 0..start + 180 {
                for (area, per_minute) in [0.4, 0.2, 1.5, 0.05].into_iter().enumerate() {
                    let incident = area == incident_area
                        && (start..start + incident_minutes).contains(&minute);
                    let rate = if incident {
                        per_minute * 4.0 + 1.0
                    } else {
                        per_minute
                    };
                    let tense_share = if incident { incident_share } else { 0.03 };
                    let mut expected: f64 = rate;
                    while expected > 0.0 {
                        if rng.f64() < expected.min(1.0) {
                            posts.push(Post {
                                id: posts.len().to_string(),
                                at_ms: minute * MINUTE_MS + rng.i64(0..MINUTE_MS),
                                area,
                                tension: if rng.f64() < tense_share {
                                    0.6 + rng.f32() * 0.4
                                } else {
                                    rng.f32() * 0.4
                                },
                                author: rng.u8(..),
                            });
                        }
                        expected -= 1.0;
                    }
                }
            }
            posts.sort_by_key(|p| p.at_ms);
            // Out of order by up to three minutes, never beyond the lateness.
            for post in &mut posts {
                post.at_ms -= rng.i64(0..3 * MINUTE_MS);
            }
            posts
        },
    )
}

fn config(skew_ms: i64) -> EngineConfig {
    EngineConfig {
        allowed_lateness_ms: LATENESS_MS,
        partition_skew_ms: skew_ms,
        ..EngineConfig::default()
    }
}

fn scored(post: &Post) -> ScoredPost<'_> {
    let area = AREAS[post.area];
    ScoredPost {
        id: &post.id,
        text: if post.tension > 0.5 {
            "rellen op het plein, politie bekogeld"
        } else {
            "mooi weer vandaag"
        },
        author: None,
        event_time_ms: post.at_ms,
        area: Some((area, area)),
        located: Located::AreaField,
        tension: post.tension,
        sentiment: 0.5 - post.tension,
        negative: post.tension > 0.5,
    }
}

/// The stream read in order, as `replay` reads a file.
fn in_order(posts: &[Post]) -> (Vec<AlertEvent>, u64) {
    let mut engine = Engine::new(config(0));
    let mut events = Vec::new();
    for post in posts {
        engine.add(&scored(post), &mut events);
    }
    engine.finish(&mut events);
    (events, engine.counters().late)
}

/// The stream split over `partitions` by author (as a producer keys them), each
/// partition in the stream's order, read in an interleaving drawn from `seed`
/// among the partitions that alignment leaves unpaused.
fn across_partitions(posts: &[Post], partitions: u8, seed: u64) -> (Vec<AlertEvent>, u64) {
    let mut queues: Vec<std::collections::VecDeque<&Post>> =
        vec![Default::default(); usize::from(partitions)];
    for post in posts {
        queues[usize::from(post.author % partitions)].push_back(post);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut engine = Engine::new(config(SKEW_MS));
    let mut inputs = Inputs::new(Watermarks::new(IDLE_MS, SKEW_MS));
    let mut paused = vec![false; queues.len()];
    let mut events = Vec::new();
    for partition in 0..i32::from(partitions) {
        inputs.assign(partition, 0);
    }
    let mut clock = 0;
    loop {
        let ready: Vec<usize> = (0..queues.len())
            .filter(|&p| !paused[p] && !queues[p].is_empty())
            .collect();
        let Some(&partition) = (!ready.is_empty()).then(|| &ready[rng.usize(..ready.len())]) else {
            break;
        };
        // A partition at its end is idle at once here; the others are not.
        let Some(post) = queues[partition].pop_front() else {
            break;
        };
        clock += 1;
        inputs.add(
            &mut engine,
            partition as i32,
            &scored(post),
            clock,
            &mut events,
        );
        if queues[partition].is_empty() {
            inputs.revoke(&mut engine, partition as i32, &mut events);
        }
        let alignment = inputs.align(clock);
        for p in alignment.pause {
            paused[p as usize] = true;
        }
        for p in alignment.resume {
            paused[p as usize] = false;
        }
        // Every partition with posts left is paused only while another, slower
        // one still reads: alignment can never stop the whole stream.
        assert!(
            queues
                .iter()
                .enumerate()
                .any(|(p, q)| q.is_empty() || !paused[p]),
            "every partition paused"
        );
    }
    inputs.finish(&mut engine, &mut events);
    engine.finish(&mut events);
    (events, engine.counters().late)
}

/// The events with their evidence posts and terms left out.
fn without_evidence(mut events: Vec<AlertEvent>) -> Vec<AlertEvent> {
    for event in &mut events {
        event.evidence.posts.clear();
        event.evidence.terms.clear();
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_interleaving_of_partitions_gives_the_events_of_the_stream_in_order(
        posts in stream(),
        partitions in 1u8..9,
        seed in any::<u64>(),
    ) {
        let (expected, late) = in_order(&posts);
        prop_assert_eq!(late, 0, "the stream has nothing late in its own order");
        let (events, late) = across_partitions(&posts, partitions, seed);
        prop_assert_eq!(late, 0);
        for (event, replayed) in events.iter().zip(&expected) {
            // Evidence: tense posts of the stream, as many as replay shows or,
            // where posts ahead took the candidates' places, at least one.
            prop_assert_eq!(event.evidence.posts.is_empty(), replayed.evidence.posts.is_empty());
            for shown in &event.evidence.posts {
                prop_assert!(posts.iter().any(|p| p.id == shown.id && p.tension > 0.5));
            }
        }
        prop_assert_eq!(without_evidence(events), without_evidence(expected));
    }
}

#[test]
fn the_generated_streams_raise_alerts() {
    // The property above compares something: incidents in these streams fire.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut with_alerts = 0;
    for _ in 0..8 {
        let posts = stream().new_tree(&mut runner).expect("a stream").current();
        with_alerts += usize::from(!in_order(&posts).0.is_empty());
    }
    assert!(with_alerts >= 6, "{with_alerts} of 8 streams raised alerts");
}
