//! Properties of the signal core over generated input (proptest): nothing panics,
//! everything is accounted for, state stays bounded, and a restored engine goes on
//! exactly as the one it was saved from.

use onrust_signal::engine::{AlertEvent, Engine, EngineConfig, ScoredPost};
use onrust_signal::mask::mask_personal;
use onrust_signal::{decode, Areas, Limits, Located};
use proptest::prelude::*;

const MINUTE_MS: i64 = 60_000;

/// A post as generated: minutes after the start (with jitter and some late ones),
/// which of a few areas, and its tension.
#[derive(Debug, Clone)]
struct Generated {
    minute: i64,
    second: i64,
    area: u8,
    tension: f32,
}

fn stream() -> impl Strategy<Value = Vec<Generated>> {
    prop::collection::vec(
        (
            0i64..3,
            0i64..60,
            0u8..4,
            0.0f32..1.0,
            prop::bool::weighted(0.05),
        ),
        1..600,
    )
    .prop_map(|steps| {
        let mut minute = 0;
        steps
            .into_iter()
            .map(|(step, second, area, tension, late)| {
                minute += step;
                Generated {
                    // Now and then a post from well before the watermark.
                    minute: if late { minute - 30 } else { minute },
                    second,
                    area,
                    tension,
                }
            })
            .collect()
    })
}

const AREAS: [&str; 4] = ["GM0014", "GM0017", "GM0363", "GM0599"];

/// Feeds `posts` to an engine, saving and restoring it before each index in
/// `restarts`; the events raised and the counters at the end.
fn run(posts: &[Generated], restarts: &[usize]) -> (Vec<AlertEvent>, String) {
    let config = || EngineConfig {
        windows: vec![5, 15],
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config());
    let mut events = Vec::new();
    for (index, post) in posts.iter().enumerate() {
        if restarts.contains(&index) {
            engine = Engine::restore(config(), &engine.save()).expect("saved state reads back");
        }
        let id = index.to_string();
        let area = AREAS[usize::from(post.area)];
        engine.add(
            &ScoredPost {
                id: &id,
                text: if post.tension > 0.5 {
                    "rellen op het plein"
                } else {
                    "mooi weer"
                },
                author: None,
                event_time_ms: post.minute * MINUTE_MS + post.second * 1000,
                area: Some((area, area)),
                located: Located::AreaField,
                tension: post.tension,
                sentiment: 0.5 - post.tension,
                negative: post.tension > 0.5,
            },
            &mut events,
        );
    }
    engine.finish(&mut events);
    (
        events,
        format!("{:?} {:?}", engine.counters(), engine.figures()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_restored_engine_goes_on_as_the_saved_one(
        posts in stream(),
        cuts in prop::collection::vec(0usize..600, 0..6),
    ) {
        let restarts: Vec<usize> = cuts.into_iter().map(|c| c % posts.len()).collect();
        prop_assert_eq!(run(&posts, &restarts), run(&posts, &[]));
    }

    #[test]
    fn every_post_is_counted_once_as_aggregated_late_or_unresolved(posts in stream()) {
        let mut engine = Engine::new(EngineConfig::default());
        let mut events = Vec::new();
        for (index, post) in posts.iter().enumerate() {
            let id = index.to_string();
            let area = AREAS[usize::from(post.area)];
            engine.add(
                &ScoredPost {
                    id: &id,
                    text: "x",
                    author: None,
                    event_time_ms: post.minute * MINUTE_MS,
                    // Area 3 stands for posts that could not be located.
                    area: (post.area != 3).then_some((area, area)),
                    located: Located::AreaField,
                    tension: post.tension,
                    sentiment: 0.0,
                    negative: false,
                },
                &mut events,
            );
        }
        let counted = engine.counters();
        prop_assert_eq!(
            counted.aggregated + counted.late + counted.unresolved,
            posts.len() as u64
        );
    }

    #[test]
    fn a_flood_of_area_ids_stays_within_the_cap(
        ids in prop::collection::vec("[A-Za-z0-9]{1,12}", 1..2_000),
        cap in 10usize..200,
    ) {
        let mut engine = Engine::new(EngineConfig { max_areas: cap, ..EngineConfig::default() });
        let mut events = Vec::new();
        for (index, id) in ids.iter().enumerate() {
            let name = index.to_string();
            engine.add(
                &ScoredPost {
                    id: &name,
                    text: "x",
                    author: None,
                    event_time_ms: index as i64 * 1000,
                    area: Some((id, id)),
                    located: Located::AreaField,
                    tension: 0.1,
                    sentiment: 0.0,
                    negative: false,
                },
                &mut events,
            );
            prop_assert!(engine.figures().len() <= cap);
        }
    }

    #[test]
    fn any_bytes_decode_to_a_post_or_a_named_rejection(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits { max_message_bytes: 256, max_text_bytes: 64, ..Limits::default() };
        match decode(&bytes, &limits, None, 0) {
            Ok(post) => {
                prop_assert!(bytes.len() <= 256);
                prop_assert!(!post.text.trim().is_empty() && post.text.len() <= 64);
            }
            Err(reason) => prop_assert!(!reason.as_str().is_empty()),
        }
    }

    #[test]
    fn posts_with_fields_of_any_type_decode_or_are_rejected_by_name(
        id in json_value(), text in json_value(), created_at in json_value(),
        geo in json_value(), area in json_value(), author in json_value(),
    ) {
        let message = serde_json::json!({
            "id": id, "text": text, "created_at": created_at,
            "geo": geo, "area": area, "author": author,
        });
        let bytes = message.to_string().into_bytes();
        if let Ok(post) = decode(&bytes, &Limits::default(), Some(0), 0) {
            if let Some(geo) = post.geo {
                prop_assert!(geo.lat.is_finite() && (-90.0..=90.0).contains(&geo.lat));
                prop_assert!(geo.lon.is_finite() && (-180.0..=180.0).contains(&geo.lon));
            }
            prop_assert!(!post.id.is_empty());
        }
    }

    #[test]
    fn masked_text_keeps_no_address_number_or_handle(
        user in "[a-z][a-z0-9_]{2,10}",
        domain in "[a-z]{3,10}",
        digits in "[1-9][0-9]{8,11}",
        words in "[a-z ]{0,30}",
    ) {
        let text = format!(
            "{words} @{user} mail {user}@{domain}.nl of https://{domain}.nl/{user} bel {digits} {words}"
        );
        let masked = mask_personal(&text);
        prop_assert!(!masked.contains(&format!("@{user}")), "{}", masked);
        prop_assert!(!masked.contains(&format!("{domain}.nl")), "{}", masked);
        prop_assert!(!masked.contains(&digits), "{}", masked);
        prop_assert_eq!(mask_personal(&masked), masked.clone(), "masking twice changes nothing");
    }

    #[test]
    fn a_point_inside_a_generated_square_is_located_in_it(
        lon in -170.0f64..170.0, lat in -80.0f64..80.0, size in 0.001f64..5.0,
        dx in 0.01f64..0.99, dy in 0.01f64..0.99,
    ) {
        let ring = [
            [lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat],
        ];
        let geojson = serde_json::json!({"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"id": "sq", "name": "Square"},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }]});
        let areas = Areas::from_geojson(&geojson.to_string()).expect("a valid square");
        let inside = onrust_signal::GeoPoint { lat: lat + dy * size, lon: lon + dx * size };
        prop_assert_eq!(areas.at(inside).map(|a| a.id.as_str()), Some("sq"));
        let outside = onrust_signal::GeoPoint { lat: lat - size, lon: lon - size };
        prop_assert!(areas.at(outside).is_none());
    }

    #[test]
    fn any_areas_text_loads_or_fails_with_a_reason(text in areas_like_json()) {
        if let Err(error) = Areas::from_geojson(&text) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// GeoJSON-shaped text with generated properties and coordinates.
fn areas_like_json() -> impl Strategy<Value = String> {
    // Mostly a usable id and name, so that the geometry is reached.
    let text_or_any = || {
        prop_oneof![
            3 => "[A-Za-z0-9]{1,6}".prop_map(serde_json::Value::from),
            1 => json_value(),
        ]
    };
    (
        text_or_any(),
        text_or_any(),
        prop::collection::vec(prop::collection::vec(any::<f64>(), 0..4), 0..6),
        prop_oneof![
            Just("Polygon"),
            Just("MultiPolygon"),
            Just("Point"),
            Just("LineString")
        ],
    )
        .prop_map(|(id, name, points, kind)| {
            let coordinates: Vec<serde_json::Value> = points
                .into_iter()
                .map(|position| {
                    // JSON has no NaN or infinity: those become 0.
                    let finite: Vec<f64> = position
                        .into_iter()
                        .map(|x| if x.is_finite() { x } else { 0.0 })
                        .collect();
                    serde_json::json!(finite)
                })
                .collect();
            let coordinates = match kind {
                "Point" => coordinates
                    .first()
                    .cloned()
                    .unwrap_or(serde_json::json!([])),
                "Polygon" => serde_json::json!([coordinates]),
                "MultiPolygon" => serde_json::json!([[coordinates]]),
                _ => serde_json::Value::from(coordinates),
            };
            serde_json::json!({"type": "FeatureCollection", "features": [{
                "type": "Feature", "properties": {"id": id, "name": name, "radius_km": 1.5},
                "geometry": {"type": kind, "coordinates": coordinates},
            }]})
            .to_string()
        })
}
