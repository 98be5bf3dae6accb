//! Areas: loading a municipal-scale boundary file and locating a point in it.
//!
//! Run: `cargo bench --bench areas`. The file is synthetic but shaped like the Dutch
//! municipalities: 342 areas, each a multipolygon of two rings of 64 to 200 vertices
//! (one with a hole), about 90,000 vertices in all, tiled over the country.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use onrust_signal::{Areas, GeoPoint};

const AREAS: usize = 342;

/// A ring of `n` vertices around (lon, lat) with radius `r` degrees, wobbly like a
/// real border.
fn ring(lon: f64, lat: f64, r: f64, n: usize, out: &mut String) {
    out.push('[');
    for i in 0..=n {
        let angle = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
        let wobble = 1.0 + 0.15 * (angle * 7.0).sin();
        let (x, y) = (
            lon + r * wobble * angle.cos(),
            lat + r * wobble * angle.sin(),
        );
        if i > 0 {
            out.push(',');
        }
        write!(out, "[{x:.6},{y:.6}]").expect("write to string");
    }
    out.push(']');
}

fn municipal_file() -> (String, Vec<GeoPoint>) {
    let mut json = String::from(r#"{"type":"FeatureCollection","features":["#);
    let mut probes = Vec::new();
    let side = (AREAS as f64).sqrt().ceil() as usize;
    for i in 0..AREAS {
        let (lon, lat) = (
            3.4 + (i % side) as f64 * 0.2,
            50.8 + (i / side) as f64 * 0.15,
        );
        let vertices = 64 + (i * 37) % 137;
        if i > 0 {
            json.push(',');
        }
        write!(
            json,
            r#"{{"type":"Feature","properties":{{"id":"GM{i:04}","name":"Gemeente {i}"}},"#
        )
        .expect("write");
        json.push_str(r#""geometry":{"type":"MultiPolygon","coordinates":[["#);
        ring(lon, lat, 0.06, vertices, &mut json);
        json.push(',');
        ring(lon, lat, 0.01, vertices / 4, &mut json);
        json.push_str("],[");
        ring(lon + 0.08, lat + 0.05, 0.015, vertices, &mut json);
        json.push_str("]]}}");
        probes.push(GeoPoint {
            lat: lat + 0.03,
            lon: lon + 0.02,
        });
    }
    json.push_str("]}");
    (json, probes)
}

fn areas(c: &mut Criterion) {
    let (json, probes) = municipal_file();
    c.bench_function("areas/load_municipal_file", |b| {
        b.iter(|| black_box(Areas::from_geojson(black_box(&json)).expect("valid file")))
    });
    let areas = Areas::from_geojson(&json).expect("valid file");
    assert!(
        probes.iter().all(|p| areas.at(*p).is_some()),
        "every probe lies in an area"
    );
    let mut next = 0usize;
    c.bench_function("areas/locate_point", |b| {
        b.iter(|| {
            next = (next + 1) % probes.len();
            black_box(areas.at(black_box(probes[next])))
        })
    });
    c.bench_function("areas/locate_place_name", |b| {
        b.iter(|| black_box(areas.named(black_box("gemeente 171"))))
    });
}

criterion_group!(benches, areas);
criterion_main!(benches);
