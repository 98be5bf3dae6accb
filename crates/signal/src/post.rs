//! The post: one JSON object per Kafka message or JSONL line (contract section 1),
//! decoded and validated. A message that is not a usable post is *rejected* with a
//! [`Rejection`] whose name is the `reason` label of
//! `onrust_posts_rejected_total` and of the dead-letter record.

use chrono::DateTime;
use onrust_text::Lang;
use serde::Deserialize;

/// Limits on what is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message, in bytes (contract default 64 KiB).
    pub max_message_bytes: usize,
    /// The largest `text`, in bytes (contract default 16 KiB).
    pub max_text_bytes: usize,
    /// How far a post's event time may lie after the moment it was sent or read,
    /// in ms (`signal.max_future_minutes`, default 10): clocks drift, but not by
    /// hours.
    pub max_future_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_text_bytes: 16 * 1024,
            max_future_ms: 10 * 60_000,
        }
    }
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z, in epoch milliseconds: the
/// range of an RFC 3339 time, and of an integer `created_at`.
const MIN_EVENT_MS: i64 = -62_167_219_200_000;
const MAX_EVENT_MS: i64 = 253_402_300_799_999;

/// Why a message was rejected. The names are stable: metrics and dead letters use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rejection {
    /// Larger than `max_message_bytes`.
    MessageTooLarge,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Not JSON at all.
    MalformedJson,
    /// JSON, but not an object.
    NotAnObject,
    /// A field has the wrong type (say, `text` is a number).
    WrongFieldType,
    /// No `id` (or an empty one).
    MissingId,
    /// No `text`, or an empty one.
    MissingText,
    /// `text` larger than `max_text_bytes`.
    TextTooLarge,
    /// `geo` without finite `lat` in [-90, 90] and `lon` in [-180, 180].
    BadGeo,
    /// `created_at` neither RFC 3339 nor integer epoch milliseconds.
    BadCreatedAt,
    /// Dated more than `max_future_ms` after it was sent or read (a wrong clock,
    /// a year typed wrong, or a hostile message): it would move event time ahead
    /// and make every honest post late.
    FutureCreatedAt,
}

impl Rejection {
    /// Every reason, for metrics that list them all.
    pub const ALL: [Rejection; 11] = [
        Rejection::MessageTooLarge,
        Rejection::InvalidUtf8,
        Rejection::MalformedJson,
        Rejection::NotAnObject,
        Rejection::WrongFieldType,
        Rejection::MissingId,
        Rejection::MissingText,
        Rejection::TextTooLarge,
        Rejection::BadGeo,
        Rejection::BadCreatedAt,
        Rejection::FutureCreatedAt,
    ];

    /// The reason's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::MessageTooLarge => "message_too_large",
            Rejection::InvalidUtf8 => "invalid_utf8",
            Rejection::MalformedJson => "malformed_json",
            Rejection::NotAnObject => "not_an_object",
            Rejection::WrongFieldType => "wrong_field_type",
            Rejection::MissingId => "missing_id",
            Rejection::MissingText => "missing_text",
            Rejection::TextTooLarge => "text_too_large",
            Rejection::BadGeo => "bad_geo",
            Rejection::BadCreatedAt => "bad_created_at",
            Rejection::FutureCreatedAt => "future_created_at",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in WGS84.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

/// Where a post's event time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// Its own `created_at`.
    CreatedAt,
    /// The Kafka message timestamp.
    MessageTimestamp,
    /// The time it arrived.
    Arrival,
}

/// A valid post.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Unique per source.
    pub id: String,
    /// The text.
    pub text: String,
    /// Event time, epoch milliseconds.
    pub event_time_ms: i64,
    /// Where `event_time_ms` came from.
    pub time_source: TimeSource,
    /// The language hint, when it is an ISO 639-1 code.
    pub lang: Option<Lang>,
    /// Where it was made.
    pub geo: Option<GeoPoint>,
    /// A declared place.
    pub place: Option<String>,
    /// An area id resolved upstream.
    pub area: Option<String>,
    /// The author as given; the edge pseudonymises it before it is kept anywhere.
    pub author: Option<String>,
    /// The platform, for metrics.
    pub source: Option<String>,
}

#[derive(Deserialize)]
struct RawPost {
    #[serde(default)]
    id: Option<RawId>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    created_at: Option<RawTime>,
    #[serde(default)]
    lang: Option<String>,
    /// Kept raw and read apart: a coordinate beyond f64 (`1e999`) is a bad
    /// `geo`, not a message that is not JSON.
    #[serde(default)]
    geo: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawId {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Millis(i64),
    Text(String),
}

#[derive(Deserialize)]
struct RawGeo {
    lat: f64,
    lon: f64,
}

/// Whether a post dated `event_time_ms` lies in the future of its message: more
/// than `max_future_ms` after the message's timestamp (`message_time_ms`, when the
/// source has one) or after `read_ms`, when it was read (wall clock). No post is
/// written after it was sent, nor sent after it was read; the allowance covers
/// clocks that disagree.
pub fn is_future(
    event_time_ms: i64,
    message_time_ms: Option<i64>,
    read_ms: i64,
    max_future_ms: i64,
) -> bool {
    let sent_or_read = message_time_ms.map_or(read_ms, |sent| sent.min(read_ms));
    event_time_ms > sent_or_read.saturating_add(max_future_ms)
}

/// Whether a post of a file dated `event_time_ms` lies in the future of the
/// posts that follow it (`following`, their event times, in file order): more
/// than `max_future_ms` after their median. A file has no clock to go by; its
/// own posts are the clock. A gap in a file (a quiet night) is followed by posts
/// as late as the one after it and passes; a post dated years ahead of the posts
/// around it does not. With nothing following (the end of the file), `newest_ms`
/// (the newest post accepted before it, if any) is the reference.
pub fn is_ahead_of_file(
    event_time_ms: i64,
    following: &[i64],
    newest_ms: Option<i64>,
    max_future_ms: i64,
) -> bool {
    let reference = if following.is_empty() {
        newest_ms
    } else {
        let mut sorted = following.to_vec();
        sorted.sort_unstable();
        Some(sorted[(sorted.len() - 1) / 2])
    };
    reference.is_some_and(|reference| event_time_ms > reference.saturating_add(max_future_ms))
}

/// Decodes one message. `message_time_ms` is the Kafka message timestamp (if any),
/// `arrival_ms` the time it arrived: the fallbacks for a post without `created_at`.
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    message_time_ms: Option<i64>,
    arrival_ms: i64,
) -> Result<Post, Rejection> {
    if bytes.len() > limits.max_message_bytes {
        return Err(Rejection::MessageTooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::InvalidUtf8)?;
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Rejection::NotAnObject,
            Err(_) => Rejection::MalformedJson,
        });
    }
    let raw: RawPost = serde_json::from_str(text).map_err(|error| {
        if error.is_data() {
            Rejection::WrongFieldType
        } else {
            Rejection::MalformedJson
        }
    })?;
    let id = match raw.id {
        Some(RawId::Text(id)) if !id.is_empty() => id,
        Some(RawId::Number(number)) => number.to_string(),
        _ => return Err(Rejection::MissingId),
    };
    let post_text = match raw.text {
        Some(text) if !text.trim().is_empty() => text,
        _ => return Err(Rejection::MissingText),
    };
    if post_text.len() > limits.max_text_bytes {
        return Err(Rejection::TextTooLarge);
    }
    let geo = match raw.geo.map(|raw| serde_json::from_str::<RawGeo>(raw.get())) {
        None => None,
        Some(Ok(RawGeo { lat, lon }))
            if lat.is_finite()
                && lon.is_finite()
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lon) =>
        {
            Some(GeoPoint { lat, lon })
        }
        Some(_) => return Err(Rejection::BadGeo),
    };
    let (event_time_ms, time_source) = match raw.created_at {
        // Only what RFC 3339 can say (years 0 to 9999): an epoch of seconds or
        // microseconds read as milliseconds, or a made-up number, would move the
        // watermark centuries away.
        Some(RawTime::Millis(ms)) if (MIN_EVENT_MS..=MAX_EVENT_MS).contains(&ms) => {
            (ms, TimeSource::CreatedAt)
        }
        Some(RawTime::Millis(_)) => return Err(Rejection::BadCreatedAt),
        Some(RawTime::Text(text)) => (
            DateTime::parse_from_rfc3339(&text)
                .map_err(|_| Rejection::BadCreatedAt)?
                .timestamp_millis(),
            TimeSource::CreatedAt,
        ),
        None => match message_time_ms {
            Some(ms) => (ms, TimeSource::MessageTimestamp),
            None => (arrival_ms, TimeSource::Arrival),
        },
    };
    Ok(Post {
        id,
        text: post_text,
        event_time_ms,
        time_source,
        lang: raw.lang.as_deref().and_then(Lang::from_code),
        geo,
        place: raw.place.filter(|p| !p.trim().is_empty()),
        area: raw.area.filter(|a| !a.trim().is_empty()),
        author: raw.author,
        source: raw.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str) -> Result<Post, Rejection> {
        decode(message.as_bytes(), &Limits::default(), Some(7_000), 9_000)
    }

    fn rejected(message: &str) -> &'static str {
        match check(message) {
            Ok(post) => panic!("accepted {message:?} as {post:?}"),
            Err(reason) => reason.as_str(),
        }
    }

    #[test]
    fn decodes_every_contract_field() {
        let post = check(
            r#"{"id":"17","text":"rellen!","created_at":"2026-11-28T21:00:00+01:00","lang":"nl",
                "geo":{"lat":53.17,"lon":6.6},"place":"Haren","area":"GM0017","author":"a1",
                "source":"x","extra":[1,2]}"#,
        )
        .expect("valid");
        assert_eq!(post.id, "17");
        assert_eq!(post.event_time_ms, 1_795_896_000_000);
        assert_eq!(post.time_source, TimeSource::CreatedAt);
        assert_eq!(post.lang, Some(Lang::NL));
        assert_eq!(
            post.geo,
            Some(GeoPoint {
                lat: 53.17,
                lon: 6.6
            })
        );
        assert_eq!(
            (
                post.place.as_deref(),
                post.area.as_deref(),
                post.source.as_deref()
            ),
            (Some("Haren"), Some("GM0017"), Some("x"))
        );
    }

    #[test]
    fn numeric_ids_become_their_decimal_string() {
        assert_eq!(
            check(r#"{"id":1789201,"text":"x"}"#).expect("valid").id,
            "1789201"
        );
    }

    #[test]
    fn event_time_falls_back_to_message_time_then_arrival() {
        let post = check(r#"{"id":"1","text":"x","created_at":1700000000123}"#).expect("valid");
        assert_eq!(
            (post.event_time_ms, post.time_source),
            (1_700_000_000_123, TimeSource::CreatedAt)
        );
        let post = check(r#"{"id":"1","text":"x"}"#).expect("valid");
        assert_eq!(
            (post.event_time_ms, post.time_source),
            (7_000, TimeSource::MessageTimestamp)
        );
        let post =
            decode(br#"{"id":"1","text":"x"}"#, &Limits::default(), None, 9_000).expect("valid");
        assert_eq!(
            (post.event_time_ms, post.time_source),
            (9_000, TimeSource::Arrival)
        );
    }

    #[test]
    fn rejects_with_a_named_reason() {
        assert_eq!(rejected("[1,2]"), "not_an_object");
        assert_eq!(rejected("\"text\""), "not_an_object");
        assert_eq!(rejected("{not json"), "malformed_json");
        assert_eq!(rejected(""), "malformed_json");
        assert_eq!(rejected(r#"{"text":"x"}"#), "missing_id");
        assert_eq!(rejected(r#"{"id":"","text":"x"}"#), "missing_id");
        assert_eq!(rejected(r#"{"id":"1"}"#), "missing_text");
        assert_eq!(rejected(r#"{"id":"1","text":"   "}"#), "missing_text");
        assert_eq!(rejected(r#"{"id":"1","text":5}"#), "wrong_field_type");
        assert_eq!(
            rejected(r#"{"id":"1","text":"x","geo":{"lat":91,"lon":0}}"#),
            "bad_geo"
        );
        // A geo point that is not one, whatever is wrong with it, is a bad geo.
        for geo in [r#"{"lat":1}"#, r#"{"lat":1e999,"lon":5}"#, r#""Haren""#] {
            assert_eq!(
                rejected(&format!(r#"{{"id":"1","text":"x","geo":{geo}}}"#)),
                "bad_geo",
                "{geo}"
            );
        }
        assert!(check(r#"{"id":"1","text":"x","geo":null}"#).is_ok_and(|p| p.geo.is_none()));
        assert_eq!(
            rejected(r#"{"id":"1","text":"x","created_at":"yesterday"}"#),
            "bad_created_at"
        );
        assert_eq!(
            rejected(r#"{"id":"1","text":"x","created_at":9223372036854775807}"#),
            "bad_created_at",
            "beyond the year 9999"
        );
        assert_eq!(
            rejected(r#"{"id":"1","text":"x","created_at":-9223372036854775808}"#),
            "bad_created_at"
        );
    }

    #[test]
    fn size_limits_apply_to_message_and_text() {
        let limits = Limits {
            max_message_bytes: 100,
            max_text_bytes: 10,
            ..Limits::default()
        };
        let long_text = format!(r#"{{"id":"1","text":"{}"}}"#, "a".repeat(11));
        assert_eq!(
            decode(long_text.as_bytes(), &limits, None, 0),
            Err(Rejection::TextTooLarge)
        );
        let long_message = format!(r#"{{"id":"1","text":"a","pad":"{}"}}"#, "b".repeat(100));
        assert_eq!(
            decode(long_message.as_bytes(), &limits, None, 0),
            Err(Rejection::MessageTooLarge)
        );
    }

    #[test]
    fn invalid_utf8_is_rejected_not_a_panic() {
        assert_eq!(
            decode(
                b"{\"id\":\"1\",\"text\":\"\xff\"}",
                &Limits::default(),
                None,
                0
            ),
            Err(Rejection::InvalidUtf8)
        );
    }

    #[test]
    fn non_finite_coordinates_cannot_even_be_written_in_json() {
        // JSON has no NaN: such a message is malformed, never a NaN coordinate.
        assert_eq!(
            rejected(r#"{"id":"1","text":"x","geo":{"lat":NaN,"lon":0}}"#),
            "malformed_json"
        );
    }

    #[test]
    fn a_post_dated_after_it_was_sent_or_read_is_from_the_future() {
        let minute = 60_000;
        let read = 1_000 * minute;
        // Within the allowance of the clock that read it: fine.
        assert!(!is_future(read + 10 * minute, None, read, 10 * minute));
        assert!(is_future(read + 10 * minute + 1, None, read, 10 * minute));
        // The message was sent earlier (a backlog): its timestamp bounds the post.
        assert!(!is_future(
            read - 50 * minute,
            Some(read - 60 * minute),
            read,
            10 * minute
        ));
        assert!(is_future(
            read - 30 * minute,
            Some(read - 60 * minute),
            read,
            10 * minute
        ));
        // A message timestamp ahead of the reading clock bounds nothing more.
        assert!(is_future(
            read + 20 * minute,
            Some(read + 30 * minute),
            read,
            10 * minute
        ));
        // 2099 never passes, and the far ends of time do not overflow.
        assert!(is_future(4_070_908_800_000, None, read, 10 * minute));
        assert!(!is_future(i64::MIN, Some(i64::MAX), i64::MAX, i64::MAX));
    }

    #[test]
    fn a_file_post_far_ahead_of_the_posts_after_it_is_from_the_future() {
        let minute = 60_000;
        let limit = 10 * minute;
        let around = [100 * minute, 101 * minute, 99 * minute, 102 * minute];
        // A year typed wrong among posts of the same hour.
        assert!(is_ahead_of_file(
            100 * minute + 525_600 * minute,
            &around,
            Some(99 * minute),
            limit
        ));
        // Ordinary disorder, and a gap that the following posts share, pass.
        assert!(!is_ahead_of_file(105 * minute, &around, None, limit));
        let after_a_night = [400 * minute, 401 * minute, 403 * minute];
        assert!(!is_ahead_of_file(
            400 * minute,
            &after_a_night,
            Some(100 * minute),
            limit
        ));
        // One more outlier among the followers does not carry it: the median does.
        let with_an_accomplice = [100 * minute, 9_000 * minute, 101 * minute];
        assert!(is_ahead_of_file(
            9_000 * minute,
            &with_an_accomplice,
            None,
            limit
        ));
        // The last line is judged by the newest post before it; the first line of a
        // one-line file by nothing.
        assert!(is_ahead_of_file(
            9_000 * minute,
            &[],
            Some(100 * minute),
            limit
        ));
        assert!(!is_ahead_of_file(9_000 * minute, &[], None, limit));
    }

    #[test]
    fn reason_names_are_unique_snake_case() {
        let mut names: Vec<&str> = Rejection::ALL.iter().map(|r| r.as_str()).collect();
        assert!(names.iter().all(|n| n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rejection::ALL.len());
    }
}
