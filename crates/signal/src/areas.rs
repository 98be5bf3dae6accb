//! Areas (contract section 2) and locating a post in one.
//!
//! An areas file is a GeoJSON FeatureCollection of polygons, multipolygons (holes
//! allowed) and points with a radius. A post is located, in this order, by its
//! `area` field, by its `geo` point (inside a polygon; else the nearest point area
//! whose radius reaches it), or by its `place` (an area's name or alias, case- and
//! accent-insensitive). Polygons sit in an R-tree of their bounding boxes, so a
//! point costs a tree lookup and an exact test against the few candidates.

use std::collections::HashMap;

use geo::Validation as _;
use geo::{Contains, Distance, Haversine, MultiPolygon, Point};
use geojson::GeometryValue;
use onrust_text::normalize::fold_for_lookup;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::post::{GeoPoint, Post};

/// Why an areas file was refused: which feature, and why.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum AreasError {
    /// Not a GeoJSON FeatureCollection.
    #[error("not a GeoJSON FeatureCollection: {0}")]
    NotAFeatureCollection(String),
    /// One feature is unusable.
    #[error("feature {index}{}: {reason}", id.as_ref().map(|id| format!(" ({id:?})")).unwrap_or_default())]
    Feature {
        /// Its position in the collection, from 0.
        index: usize,
        /// Its id, when it has one.
        id: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

/// The shape of an area.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Polygons(MultiPolygon<f64>),
    Circle { center: Point<f64>, radius_m: f64 },
}

/// One area.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Its unique id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Other names posts may use for it.
    pub aliases: Vec<String>,
    shape: Shape,
}

/// How a post was located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Located {
    /// By its `area` field.
    AreaField,
    /// By its coordinates.
    Coordinates,
    /// By its place name.
    PlaceName,
    /// Not at all.
    Unresolved,
}

impl Located {
    /// Every way a post can be located in an area, by [`Located::slot`].
    pub const IN_AREA: [Located; 3] =
        [Located::AreaField, Located::Coordinates, Located::PlaceName];

    /// Its position in [`Located::IN_AREA`]; `None` for [`Located::Unresolved`].
    pub fn slot(self) -> Option<usize> {
        Located::IN_AREA.iter().position(|l| *l == self)
    }

    /// A stable name, for metrics and the alert's evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Located::AreaField => "area",
            Located::Coordinates => "geo",
            Located::PlaceName => "place",
            Located::Unresolved => "unresolved",
        }
    }
}

/// A set of areas with the indexes to locate posts in them.
#[derive(Debug, Default)]
pub struct Areas {
    areas: Vec<Area>,
    polygons: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    circles: Vec<usize>,
    by_id: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

impl Areas {
    /// No areas: posts are located only by their `area` field.
    pub fn empty() -> Areas {
        Areas::default()
    }

    /// Parses and validates an areas file.
    pub fn from_geojson(text: &str) -> Result<Areas, AreasError> {
        let collection: geojson::FeatureCollection = text
            .parse::<geojson::GeoJson>()
            .and_then(geojson::FeatureCollection::try_from)
            .map_err(|e| AreasError::NotAFeatureCollection(e.to_string()))?;
        let mut areas = Areas::default();
        let mut boxes = Vec::new();
        for (index, feature) in collection.features.iter().enumerate() {
            let fail = |id: Option<&str>, reason: String| AreasError::Feature {
                index,
                id: id.map(str::to_string),
                reason,
            };
            let property = |name: &str| feature.properties.as_ref().and_then(|p| p.get(name));
            let id = match property("id") {
                Some(serde_json::Value::String(id)) if !id.trim().is_empty() => id.clone(),
                Some(_) => {
                    return Err(fail(
                        None,
                        "properties.id must be a non-empty string".into(),
                    ))
                }
                None => return Err(fail(None, "properties.id is missing".into())),
            };
            let name = match property("name") {
                Some(serde_json::Value::String(name)) if !name.trim().is_empty() => name.clone(),
                None => id.clone(),
                Some(_) => return Err(fail(Some(&id), "properties.name must be a string".into())),
            };
            let aliases = match property("aliases") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|a| a.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| fail(Some(&id), "properties.aliases must be strings".into()))?,
                Some(_) => {
                    return Err(fail(
                        Some(&id),
                        "properties.aliases must be an array".into(),
                    ))
                }
            };
            if areas.by_id.contains_key(&id) {
                return Err(fail(Some(&id), "duplicate id".into()));
            }
            let geometry = feature
                .geometry
                .as_ref()
                .ok_or_else(|| fail(Some(&id), "no geometry".into()))?;
            let shape = shape_of(geometry, property("radius_km"))
                .map_err(|reason| fail(Some(&id), reason))?;
            let slot = areas.areas.len();
            match &shape {
                Shape::Polygons(polygons) => {
                    let rect = geo::BoundingRect::bounding_rect(polygons)
                        .ok_or_else(|| fail(Some(&id), "empty polygon".into()))?;
                    let corners = ([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
                    boxes.push(GeomWithData::new(
                        Rectangle::from_corners(corners.0, corners.1),
                        slot,
                    ));
                }
                Shape::Circle { .. } => areas.circles.push(slot),
            }
            for key in std::iter::once(&name)
                .chain(&aliases)
                .map(|n| fold_for_lookup(n))
            {
                areas.by_name.entry(key).or_insert(slot);
            }
            areas.by_id.insert(id.clone(), slot);
            areas.areas.push(Area {
                id,
                name,
                aliases,
                shape,
            });
        }
        areas.polygons = RTree::bulk_load(boxes);
        Ok(areas)
    }

    /// Every area of the file, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter()
    }

    /// The area with this id.
    pub fn get(&self, id: &str) -> Option<&Area> {
        self.by_id.get(id).map(|&slot| &self.areas[slot])
    }

    /// Locates a post: its area's id and name (an `area` field not in the file is
    /// taken as it is, named by its id: upstream knows areas we may not) and how it
    /// was found.
    pub fn locate<'a>(&'a self, post: &'a Post) -> (Option<(&'a str, &'a str)>, Located) {
        let known = |area: &'a Area| Some((area.id.as_str(), area.name.as_str()));
        if let Some(id) = &post.area {
            let area = self.get(id).map_or(Some((id.as_str(), id.as_str())), known);
            return (area, Located::AreaField);
        }
        if let Some(area) = post.geo.and_then(|point| self.at(point)) {
            return (known(area), Located::Coordinates);
        }
        if let Some(area) = post.place.as_deref().and_then(|place| self.named(place)) {
            return (known(area), Located::PlaceName);
        }
        (None, Located::Unresolved)
    }

    /// The area a point lies in: a polygon containing it, else the nearest point area
    /// whose radius reaches it.
    pub fn at(&self, point: GeoPoint) -> Option<&Area> {
        let p = Point::new(point.lon, point.lat);
        let probe = AABB::from_point([point.lon, point.lat]);
        let mut inside: Vec<usize> = self
            .polygons
            .locate_in_envelope_intersecting(&probe)
            .map(|candidate| candidate.data)
            .filter(|&slot| matches!(&self.areas[slot].shape, Shape::Polygons(polygons) if polygons.contains(&p)))
            .collect();
        // Overlapping polygons: the first in the file wins, whatever the tree's order.
        inside.sort_unstable();
        if let Some(&slot) = inside.first() {
            return Some(&self.areas[slot]);
        }
        self.circles
            .iter()
            .filter_map(|&slot| match self.areas[slot].shape {
                Shape::Circle { center, radius_m } => {
                    let distance = Haversine.distance(center, p);
                    (distance <= radius_m).then_some((distance, slot))
                }
                Shape::Polygons(_) => None,
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, slot)| &self.areas[slot])
    }

    /// The area with this name or alias (case, accents and spacing ignored).
    pub fn named(&self, place: &str) -> Option<&Area> {
        let key = fold_for_lookup(place);
        let found = self.by_name.get(&key).or_else(|| {
            // "Rotterdam, NL": the part before a comma is the place.
            let head = key.split(',').next()?.trim();
            self.by_name.get(head)
        })?;
        Some(&self.areas[*found])
    }
}

/// The shape of one feature's geometry.
/// A self-crossing ring whose net area is under this share of its bounding box
/// is a bow tie, refused; above it, a sliver from simplification.
const BOW_TIE_SHARE: f64 = 0.05;

fn shape_of(
    geometry: &geojson::Geometry,
    radius_km: Option<&serde_json::Value>,
) -> Result<Shape, String> {
    let in_range =
        |lon: f64, lat: f64| (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat);
    match &geometry.value {
        GeometryValue::Point { coordinates } => {
            let (lon, lat) = match coordinates.as_slice() {
                [lon, lat, ..] => (*lon, *lat),
                _ => return Err("a point needs two coordinates".into()),
            };
            if !in_range(lon, lat) {
                return Err(format!("point ({lon}, {lat}) is outside WGS84"));
            }
            let radius_km = radius_km
                .and_then(serde_json::Value::as_f64)
                .ok_or("a point area needs properties.radius_km")?;
            if !(radius_km.is_finite() && radius_km > 0.0) {
                return Err(format!("radius_km {radius_km} must be positive"));
            }
            Ok(Shape::Circle {
                center: Point::new(lon, lat),
                radius_m: radius_km * 1000.0,
            })
        }
        value @ (GeometryValue::Polygon { .. } | GeometryValue::MultiPolygon { .. }) => {
            // geojson's conversion indexes [0] and [1] of every position and panics
            // on a shorter one (found by the areas_loader fuzz target): check first.
            let rings: Vec<&Vec<geojson::Position>> = match value {
                GeometryValue::Polygon { coordinates } => coordinates.iter().collect(),
                GeometryValue::MultiPolygon { coordinates } => {
                    coordinates.iter().flatten().collect()
                }
                _ => Vec::new(),
            };
            if rings
                .iter()
                .flat_map(|ring| ring.iter())
                .any(|p| p.len() < 2)
            {
                return Err("every position needs two coordinates".into());
            }
            let polygons: MultiPolygon<f64> =
                match value {
                    GeometryValue::Polygon { .. } => MultiPolygon::new(vec![
                        geo::Polygon::try_from(value).map_err(|e| e.to_string())?,
                    ]),
                    _ => MultiPolygon::try_from(value).map_err(|e| e.to_string())?,
                };
            for polygon in &polygons {
                for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                    if ring.0.len() < 4 {
                        return Err("a polygon ring needs at least four positions".into());
                    }
                    if let Some(c) = ring.0.iter().find(|c| !in_range(c.x, c.y)) {
                        return Err(format!("position ({}, {}) is outside WGS84", c.x, c.y));
                    }
                }
            }
            if polygons.0.is_empty() {
                return Err("empty multipolygon".into());
            }
            // A ring that crosses itself so that its lobes cancel out (a bow tie,
            // a figure eight) is a drawing error with no inside to agree on. Real
            // boundaries simplified for size cross themselves in slivers (the CBS
            // file does, a few times): those keep nearly all their area, and pass.
            for (index, polygon) in polygons.iter().enumerate() {
                if polygon.is_valid() {
                    continue;
                }
                let net = polygon.exterior().0.windows(2).fold(0.0, |sum, pair| {
                    sum + pair[0].x * pair[1].y - pair[1].x * pair[0].y
                }) / 2.0;
                let bounds = geo::BoundingRect::bounding_rect(polygon.exterior())
                    .map_or(0.0, |rect| rect.width() * rect.height());
                if net.abs() < BOW_TIE_SHARE * bounds {
                    return Err(format!(
                        "polygon {index} crosses itself so that its parts cancel out \
                         (a bow tie): redraw it"
                    ));
                }
            }
            Ok(Shape::Polygons(polygons))
        }
        other => Err(format!(
            "{} geometries are not areas: use Polygon, MultiPolygon or Point",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two squares (one with a hole), a point area, aliases.
    const AREAS: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"id":"GM0017","name":"Haren","aliases":["Haren (Gn)"]},
       "geometry":{"type":"Polygon","coordinates":[[[6.5,53.1],[6.7,53.1],[6.7,53.2],[6.5,53.2],[6.5,53.1]]]}},
      {"type":"Feature","properties":{"id":"GM0796","name":"'s-Hertogenbosch","aliases":["Den Bosch"]},
       "geometry":{"type":"MultiPolygon","coordinates":[[[[5.2,51.6],[5.4,51.6],[5.4,51.8],[5.2,51.8],[5.2,51.6]],
                                                          [[5.25,51.65],[5.35,51.65],[5.35,51.75],[5.25,51.75],[5.25,51.65]]]]}},
      {"type":"Feature","properties":{"id":"P1","name":"Zoë Plein","radius_km":2},
       "geometry":{"type":"Point","coordinates":[5.3,51.7]}}
    ]}"#;

    fn post(area: Option<&str>, geo: Option<(f64, f64)>, place: Option<&str>) -> Post {
        Post {
            id: "1".into(),
            text: "x".into(),
            event_time_ms: 0,
            time_source: crate::post::TimeSource::Arrival,
            lang: None,
            geo: geo.map(|(lat, lon)| GeoPoint { lat, lon }),
            place: place.map(str::to_string),
            area: area.map(str::to_string),
            author: None,
            source: None,
        }
    }

    fn locate(areas: &Areas, post: &Post) -> (Option<String>, Located) {
        let (area, located) = areas.locate(post);
        (area.map(|(id, _)| id.to_string()), located)
    }

    #[test]
    fn locates_by_area_then_geo_then_place() {
        let areas = Areas::from_geojson(AREAS).expect("valid");
        let in_haren = Some((53.15, 6.6));
        assert_eq!(
            locate(&areas, &post(Some("GM0796"), in_haren, Some("Haren"))),
            (Some("GM0796".into()), Located::AreaField)
        );
        assert_eq!(
            locate(&areas, &post(None, in_haren, Some("Den Bosch"))),
            (Some("GM0017".into()), Located::Coordinates)
        );
        assert_eq!(
            locate(&areas, &post(None, Some((0.0, 0.0)), Some("den  BOSCH"))),
            (Some("GM0796".into()), Located::PlaceName)
        );
        assert_eq!(
            locate(&areas, &post(None, None, Some("Atlantis"))),
            (None, Located::Unresolved)
        );
    }

    #[test]
    fn holes_are_not_inside_and_point_areas_catch_them() {
        let areas = Areas::from_geojson(AREAS).expect("valid");
        let in_ring = GeoPoint {
            lat: 51.62,
            lon: 5.22,
        };
        assert_eq!(areas.at(in_ring).map(|a| a.id.as_str()), Some("GM0796"));
        // The hole's centre is not in the multipolygon, but within the point area's 2 km.
        let in_hole = GeoPoint {
            lat: 51.7,
            lon: 5.305,
        };
        assert_eq!(areas.at(in_hole).map(|a| a.id.as_str()), Some("P1"));
        let far = GeoPoint {
            lat: 52.0,
            lon: 4.0,
        };
        assert!(areas.at(far).is_none());
    }

    #[test]
    fn names_and_aliases_ignore_case_accents_and_country_suffix() {
        let areas = Areas::from_geojson(AREAS).expect("valid");
        for place in [
            "'s-Hertogenbosch",
            "den bosch",
            "Den Bosch, NL",
            "zoe plein",
            "HAREN (GN)",
        ] {
            assert!(areas.named(place).is_some(), "{place}");
        }
        assert!(areas.named("Groningen").is_none());
    }

    #[test]
    fn located_posts_carry_their_area_name() {
        let areas = Areas::from_geojson(AREAS).expect("valid");
        let post = post(None, None, Some("den bosch"));
        assert_eq!(areas.locate(&post).0, Some(("GM0796", "'s-Hertogenbosch")));
        assert_eq!(Located::PlaceName.slot(), Some(2));
        assert_eq!(Located::Unresolved.slot(), None);
    }

    #[test]
    fn unknown_area_ids_are_kept_as_given() {
        let areas = Areas::empty();
        assert_eq!(
            locate(&areas, &post(Some("GM9999"), None, None)),
            (Some("GM9999".into()), Located::AreaField)
        );
    }

    #[test]
    fn invalid_files_name_the_feature_and_the_reason() {
        let error = |json: &str| Areas::from_geojson(json).expect_err(json).to_string();
        let wrap =
            |features: &str| format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#);
        assert!(error("[]").contains("FeatureCollection"));
        let no_id = wrap(
            r#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[5,52]}}"#,
        );
        assert!(error(&no_id).contains("feature 0: properties.id is missing"));
        let no_radius = wrap(
            r#"{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Point","coordinates":[5,52]}}"#,
        );
        assert!(error(&no_radius)
            .contains(r#"feature 0 ("a"): a point area needs properties.radius_km"#));
        let line = wrap(
            r#"{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"LineString","coordinates":[[5,52],[6,53]]}}"#,
        );
        assert!(error(&line).contains("LineString geometries are not areas"));
        let twice = wrap(
            r#"{"type":"Feature","properties":{"id":"a","radius_km":1},"geometry":{"type":"Point","coordinates":[5,52]}},
               {"type":"Feature","properties":{"id":"a","radius_km":1},"geometry":{"type":"Point","coordinates":[5,52]}}"#,
        );
        assert!(error(&twice).contains(r#"feature 1 ("a"): duplicate id"#));
        let outside = wrap(
            r#"{"type":"Feature","properties":{"id":"a","radius_km":1},"geometry":{"type":"Point","coordinates":[500,52]}}"#,
        );
        assert!(error(&outside).contains("outside WGS84"));
        // Found by the areas_loader fuzz target: a short position used to panic.
        let short = wrap(
            r#"{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[8,52],[5,52],[5,53],[]]]}}"#,
        );
        assert!(error(&short).contains(r#"feature 0 ("a"): every position needs two coordinates"#));
        let bow_tie = wrap(
            r#"{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[5,52],[6,53],[6,52],[5,53],[5,52]]]}}"#,
        );
        let message = error(&bow_tie);
        assert!(
            message.contains(r#"feature 0 ("a"): polygon 0 crosses itself"#),
            "{message}"
        );
    }

    #[test]
    fn the_real_municipal_boundaries_are_valid() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/areas/nl-gemeenten-2025.geojson"
        );
        let text = std::fs::read_to_string(path).expect("the CBS 2025 municipalities");
        let areas = Areas::from_geojson(&text).expect("valid areas");
        assert_eq!(areas.iter().count(), 342);
    }
}
