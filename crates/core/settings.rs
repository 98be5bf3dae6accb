//! The configuration file (contract section 4): TOML read with the `config` crate,
//! overridden by `ONRUST_<SECTION>__<KEY>` environment variables, every key with a
//! default (an empty file is valid), unknown keys and impossible values refused
//! with the key named. Relative paths are relative to the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use onrust_signal::accumulate::Budget;
use onrust_signal::engine::EngineConfig;
use onrust_signal::rules::Rule;
use onrust_signal::{Limits, Pseudonymiser};
use serde::Deserialize;

use crate::UsageError;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[areas]`.
    pub areas: AreasSettings,
    /// `[kafka]`: read by `run`; `replay` reads no broker.
    pub kafka: KafkaSettings,
    /// `[http]`: read by `run`.
    pub http: HttpSettings,
    /// `[[webhooks]]`: `replay` writes alerts to standard output instead.
    pub webhooks: Vec<WebhookSettings>,
    /// `[privacy]`.
    pub privacy: PrivacySettings,
    /// `[model]`.
    pub model: ModelSettings,
    /// `[input]`: limits on accepted posts.
    pub input: InputSettings,
    /// `[signal]`: windows, lateness, national topics, evidence.
    pub signal: SignalSettings,
    /// `[[rules]]`; none: the built-in rules.
    pub rules: Vec<Rule>,
    /// `[alertmanager]`: an optional Alertmanager sink.
    pub alertmanager: Option<AlertmanagerSettings>,
    /// `[state]`: where `run` keeps its checkpoint and outbox.
    pub state: StateSettings,
    /// `[metrics]`.
    pub metrics: MetricsSettings,
}

/// `[alertmanager]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSettings {
    /// Its base URL (`http://host:9093`); alerts go to `/api/v2/alerts`.
    pub url: String,
    /// How long one request may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// `[state]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSettings {
    /// The directory of the embedded store and the audit log.
    pub dir: PathBuf,
    /// How often the pipeline's state is checkpointed (and offsets committed).
    pub checkpoint_interval_ms: u64,
    /// How long checkpoints may fail before `/healthz` says unhealthy (so that
    /// a liveness probe restarts the daemon), in seconds.
    pub unhealthy_after_seconds: u64,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            dir: PathBuf::from("state"),
            checkpoint_interval_ms: 1000,
            unhealthy_after_seconds: 300,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Most areas with their own `onrust_area_*` series (the busiest keep theirs).
    pub max_area_series: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            max_area_series: 500,
        }
    }
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_max_backoff_ms() -> u64 {
    60_000
}

/// Secrets read from the environment, never from the file.
pub struct Secrets {
    /// Each webhook's HMAC secret, in `[[webhooks]]` order.
    pub hooks: Vec<Option<Vec<u8>>>,
    /// The API's bearer token.
    pub token: Option<String>,
    /// librdkafka settings with secret values, from `kafka.options_env`.
    pub kafka_options: BTreeMap<String, String>,
}

/// `[areas]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AreasSettings {
    /// The areas GeoJSON file; absent: areas come only from posts' `area` fields.
    pub file: Option<PathBuf>,
}

/// `[kafka]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topic of posts.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// Where rejected messages go.
    pub dead_letter_topic: String,
    /// Any other librdkafka setting, passed through (TLS, SASL, timeouts).
    pub options: BTreeMap<String, String>,
    /// librdkafka settings whose values are secrets: setting → the environment
    /// variable holding its value (`"sasl.password" = "KAFKA_PASSWORD"`).
    pub options_env: BTreeMap<String, String>,
    /// A partition with nothing to read for this long (wall clock) stops holding
    /// the event-time watermark of the others back, until its next message.
    pub idle_partition_seconds: u64,
    /// A partition this much event time ahead of the slowest active one is paused
    /// until the others catch up.
    pub max_partition_skew_minutes: u32,
    /// Where to go on when a checkpointed position no longer exists on the broker
    /// (the topic was recreated or the broker wiped).
    pub on_offset_reset: OffsetReset,
    /// How long the group member may have no partition before `/readyz` says
    /// not ready, in seconds (0: never for that).
    pub unassigned_grace_seconds: u64,
}

/// `kafka.on_offset_reset`: where a partition goes on when the checkpoint's
/// position is beyond its end or before its log start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The partition's log start: every post now on it is read (the default: a
    /// recreated topic holds new posts, and reading them loses nothing).
    Earliest,
    /// The partition's end: only posts written from now on.
    Latest,
}

impl OffsetReset {
    /// The name used in the configuration and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        }
    }
}

impl KafkaSettings {
    /// `idle_partition_seconds` in milliseconds.
    pub fn idle_partition_ms(&self) -> i64 {
        i64::try_from(self.idle_partition_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// `max_partition_skew_minutes` in milliseconds.
    pub fn max_partition_skew_ms(&self) -> i64 {
        i64::from(self.max_partition_skew_minutes) * 60_000
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".into(),
            topic: "posts".into(),
            group: "onrust".into(),
            dead_letter_topic: "posts.dead".into(),
            options: BTreeMap::new(),
            options_env: BTreeMap::new(),
            idle_partition_seconds: 30,
            max_partition_skew_minutes: 10,
            on_offset_reset: OffsetReset::Earliest,
            unassigned_grace_seconds: 60,
        }
    }
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address and port of the HTTP server.
    pub listen: String,
    /// The environment variable holding the bearer token that acknowledging needs;
    /// absent: acknowledging needs no token.
    pub token_env: Option<String>,
    /// Whether reading the API, its events and the metrics needs the token too.
    #[serde(deserialize_with = "strict_bool")]
    pub protect_reads: bool,
    /// Open connections, at most.
    pub max_connections: usize,
    /// Open connections from one client address, at most.
    pub max_connections_per_client: usize,
    /// A connection without a byte read or written this long is closed (seconds).
    pub idle_timeout_seconds: u64,
    /// Clients of `/api/v1/events` at once, at most.
    pub max_event_clients: usize,
    /// Host names (with or without a port) requests may be addressed to; empty:
    /// the loopback names when `listen` is a loopback address, any otherwise.
    pub allowed_hosts: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: "127.0.0.1:8080".into(),
            token_env: None,
            protect_reads: false,
            max_connections: 512,
            max_connections_per_client: 128,
            idle_timeout_seconds: 60,
            max_event_clients: 256,
            allowed_hosts: Vec::new(),
        }
    }
}

/// One `[[webhooks]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where alerts are posted.
    pub url: String,
    /// The environment variable holding the HMAC secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// How long one request may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest wait between two attempts, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// `[privacy]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// The environment variable holding the key that pseudonymises authors.
    pub author_key_env: String,
    /// How long the texts of an alert's evidence posts are kept in the store and
    /// shown, in seconds.
    pub evidence_retention_seconds: u64,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            author_key_env: "ONRUST_AUTHOR_KEY".into(),
            evidence_retention_seconds: 24 * 3600,
        }
    }
}

/// `[model]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Models to use instead of the built-in ones (as `--model DIR`).
    pub dir: Option<PathBuf>,
}

/// `[input]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputSettings {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest `text` accepted, in bytes.
    pub max_text_bytes: usize,
}

impl Default for InputSettings {
    fn default() -> Self {
        let limits = Limits::default();
        InputSettings {
            max_message_bytes: limits.max_message_bytes,
            max_text_bytes: limits.max_text_bytes,
        }
    }
}

/// `[signal]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalSettings {
    /// Window lengths in minutes.
    pub windows_minutes: Vec<u32>,
    /// How late a post may arrive (event time) and still count, in minutes.
    pub allowed_lateness_minutes: u32,
    /// Tension at or above which a post counts as tense.
    pub tension_threshold: f32,
    /// A national topic: at least this share of areas with posts elevated ...
    pub national_area_share: f64,
    /// ... and at least this many.
    pub national_min_areas: usize,
    /// Most tense posts shown in an alert.
    pub evidence_posts: usize,
    /// Most areas with state; the longest-quiet ones without an alert are forgotten.
    pub max_areas: usize,
    /// How far after the moment it was sent or read a post may be dated, in
    /// minutes; later ones are rejected as `future_created_at`.
    pub max_future_minutes: u32,
    /// Most post ids remembered to de-duplicate (about 40 bytes each); beyond
    /// it the oldest minutes are forgotten early.
    pub max_seen_ids: usize,
    /// What a post's `area` that the areas file does not have comes to.
    pub unknown_areas: UnknownAreas,
    /// False warnings allowed per area and year: the thresholds of accumulated
    /// evidence follow from it.
    pub false_warnings_per_area_year: f64,
    /// Most tense posts one author adds to an area's accumulated evidence.
    pub max_tense_posts_per_author: u32,
}

/// What a post's `area` that the areas file does not have comes to
/// (`signal.unknown_areas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownAreas {
    /// An area of its own, among at most `signal.max_areas` such (the longest
    /// quiet forgotten first); the areas of the file are never forgotten.
    #[default]
    Track,
    /// Unresolved: scored and counted, in no area (for a deployment whose areas
    /// file is the whole map, so that made-up ids cost nothing).
    Unresolved,
}

impl Default for SignalSettings {
    fn default() -> Self {
        let engine = EngineConfig::default();
        SignalSettings {
            windows_minutes: engine.windows,
            allowed_lateness_minutes: (engine.allowed_lateness_ms / 60_000) as u32,
            tension_threshold: engine.tension_threshold,
            national_area_share: engine.national_area_share,
            national_min_areas: engine.national_min_areas,
            evidence_posts: engine.evidence_posts,
            max_areas: engine.max_areas,
            max_future_minutes: (Limits::default().max_future_ms / 60_000) as u32,
            max_seen_ids: 4_000_000,
            unknown_areas: UnknownAreas::default(),
            false_warnings_per_area_year: engine.budget.false_warnings_per_area_year,
            max_tense_posts_per_author: engine.budget.max_per_author,
        }
    }
}

impl Settings {
    /// Reads `path` with environment overrides and checks every value.
    pub fn load(path: &Path) -> Result<Settings, UsageError> {
        let bad = |error: String| UsageError(format!("{}: {error}", path.display()));
        if !path.is_file() {
            return Err(bad("no such configuration file".into()));
        }
        // Only `ONRUST_<SECTION>__<KEY>` variables override keys: others that share the
        // prefix (`ONRUST_AUTHOR_KEY`, `ONRUST_WEBHOOK_SECRET`) hold secrets, not keys.
        let overrides: config::Map<String, String> = std::env::vars()
            .filter(|(name, _)| name.starts_with("ONRUST_") && name.contains("__"))
            .collect();
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("ONRUST")
                    .prefix_separator("_")
                    .separator("__")
                    .source(Some(overrides)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| bad(e.to_string()))?;
        settings.validate().map_err(bad)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut Option<PathBuf>| {
            if let Some(relative) = p.as_ref().filter(|p| p.is_relative()) {
                *p = Some(base.join(relative));
            }
        };
        resolve(&mut settings.areas.file);
        resolve(&mut settings.model.dir);
        let mut state = Some(settings.state.dir.clone());
        resolve(&mut state);
        settings.state.dir = state.unwrap_or_default();
        Ok(settings)
    }

    /// Cross-field checks; the message names the key.
    fn validate(&self) -> Result<(), String> {
        let signal = &self.signal;
        if signal.windows_minutes.is_empty() || signal.windows_minutes.contains(&0) {
            return Err(
                "signal.windows_minutes: give at least one window, each at least 1 minute".into(),
            );
        }
        if !(signal.tension_threshold > 0.0 && signal.tension_threshold < 1.0) {
            return Err(format!(
                "signal.tension_threshold: {} is not between 0 and 1",
                signal.tension_threshold
            ));
        }
        if signal.max_areas == 0 {
            return Err("signal.max_areas: must be positive".into());
        }
        if !(0.0..=1.0).contains(&signal.national_area_share) {
            return Err("signal.national_area_share: must be between 0 and 1".into());
        }
        if self.input.max_text_bytes == 0
            || self.input.max_text_bytes > self.input.max_message_bytes
        {
            return Err(
                "input.max_text_bytes: must be positive and not above input.max_message_bytes"
                    .into(),
            );
        }
        let built_in = self.rules.is_empty();
        for (index, rule) in self.engine().rules.iter().enumerate() {
            rule.validate(&signal.windows_minutes).map_err(|reason| {
                let which = if built_in { "built-in rule" } else { "rules" };
                format!("{which}[{index}] ({}): {reason}", rule.name)
            })?;
        }
        for (index, hook) in self.webhooks.iter().enumerate() {
            check_url(&format!("webhooks[{index}].url"), &hook.url)?;
            if hook.timeout_ms == 0 {
                return Err(format!("webhooks[{index}].timeout_ms: must be positive"));
            }
            if hook.max_backoff_ms < 1000 {
                return Err(format!(
                    "webhooks[{index}].max_backoff_ms: {} is below one second",
                    hook.max_backoff_ms
                ));
            }
        }
        if let Some(alertmanager) = &self.alertmanager {
            check_url("alertmanager.url", &alertmanager.url)?;
            if alertmanager.timeout_ms == 0 {
                return Err("alertmanager.timeout_ms: must be positive".into());
            }
        }
        if !(1..=7 * 24 * 60).contains(&signal.max_future_minutes) {
            return Err(format!(
                "signal.max_future_minutes: {} is not between 1 and 10080 (a week)",
                signal.max_future_minutes
            ));
        }
        if !(signal.false_warnings_per_area_year > 0.0
            && signal.false_warnings_per_area_year <= 1000.0)
        {
            return Err(format!(
                "signal.false_warnings_per_area_year: {} is not above 0 and at most 1000",
                signal.false_warnings_per_area_year
            ));
        }
        if signal.max_tense_posts_per_author == 0 {
            return Err("signal.max_tense_posts_per_author: must be at least 1".into());
        }
        if signal.max_seen_ids < 1000 {
            return Err(format!(
                "signal.max_seen_ids: {} is below 1000 (ids remembered to de-duplicate)",
                signal.max_seen_ids
            ));
        }
        if self.kafka.idle_partition_seconds == 0 {
            return Err("kafka.idle_partition_seconds: must be at least 1".into());
        }
        if !(1..=24 * 60).contains(&self.kafka.max_partition_skew_minutes) {
            return Err(format!(
                "kafka.max_partition_skew_minutes: {} is not between 1 and 1440",
                self.kafka.max_partition_skew_minutes
            ));
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "http.listen: {:?} is not an address and port such as 127.0.0.1:8080",
                self.http.listen
            ));
        }
        for (key, value) in [
            ("http.max_connections", self.http.max_connections),
            (
                "http.max_connections_per_client",
                self.http.max_connections_per_client,
            ),
            (
                "http.idle_timeout_seconds",
                self.http.idle_timeout_seconds as usize,
            ),
            ("http.max_event_clients", self.http.max_event_clients),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        if self.http.protect_reads && self.http.token_env.is_none() {
            return Err("http.protect_reads: needs http.token_env, the token to read with".into());
        }
        if self.state.unhealthy_after_seconds == 0 {
            return Err("state.unhealthy_after_seconds: must be at least 1".into());
        }
        if self.state.checkpoint_interval_ms == 0 {
            return Err("state.checkpoint_interval_ms: must be positive".into());
        }
        for (key, value) in [
            ("kafka.brokers", &self.kafka.brokers),
            ("kafka.topic", &self.kafka.topic),
            ("kafka.group", &self.kafka.group),
            ("kafka.dead_letter_topic", &self.kafka.dead_letter_topic),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{key}: must not be empty"));
            }
        }
        if self.kafka.topic == self.kafka.dead_letter_topic {
            return Err("kafka.dead_letter_topic: must differ from kafka.topic".into());
        }
        Ok(())
    }

    /// The pseudonymiser keyed by the variable `privacy.author_key_env` names; an
    /// error naming it when it is unset (what `run` needs).
    pub fn pseudonymiser(&self) -> Result<Pseudonymiser, UsageError> {
        self.keyed_pseudonymiser(false)
    }

    /// As [`Settings::pseudonymiser`], but with a random key that lives only as
    /// long as the process when the variable is unset (`demo`, `replay`).
    pub fn pseudonymiser_or_random(&self) -> Result<Pseudonymiser, UsageError> {
        self.keyed_pseudonymiser(true)
    }

    fn keyed_pseudonymiser(&self, random_if_unset: bool) -> Result<Pseudonymiser, UsageError> {
        let name = &self.privacy.author_key_env;
        let key = match std::env::var(name).ok().filter(|v| !v.is_empty()) {
            Some(key) => key.into_bytes(),
            None => {
                if !random_if_unset {
                    return Err(UsageError(format!(
                        "privacy.author_key_env: the environment variable {name} is not set; \
                         onrust run needs a secret key of at least {} bytes to pseudonymise authors",
                        Pseudonymiser::MIN_KEY_BYTES
                    )));
                }
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|e| UsageError(format!("no random key for authors: {e}")))?;
                key
            }
        };
        Pseudonymiser::new(&key).map_err(|e| {
            UsageError(format!(
                "privacy.author_key_env: the environment variable {name}: {e}"
            ))
        })
    }

    /// The secrets `run` needs from the environment: each named variable must be set.
    pub fn secrets(&self) -> Result<Secrets, UsageError> {
        let read = |key: String, name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    UsageError(format!("{key}: the environment variable {name} is not set"))
                })
        };
        let mut hooks = Vec::new();
        for (index, hook) in self.webhooks.iter().enumerate() {
            hooks.push(match &hook.secret_env {
                Some(name) => {
                    Some(read(format!("webhooks[{index}].secret_env"), name)?.into_bytes())
                }
                None => None,
            });
        }
        let token = match &self.http.token_env {
            Some(name) => Some(read("http.token_env".into(), name)?),
            None => None,
        };
        let mut kafka_options = BTreeMap::new();
        for (key, name) in &self.kafka.options_env {
            let value = read(format!("kafka.options_env.{key}"), name)?;
            kafka_options.insert(key.clone(), value);
        }
        Ok(Secrets {
            hooks,
            token,
            kafka_options,
        })
    }

    /// The engine's settings.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            windows: self.signal.windows_minutes.clone(),
            allowed_lateness_ms: i64::from(self.signal.allowed_lateness_minutes) * 60_000,
            // One ordered input (a file); `Pipeline::across_partitions` sets it.
            partition_skew_ms: 0,
            tension_threshold: self.signal.tension_threshold,
            rules: if self.rules.is_empty() {
                Rule::defaults()
            } else {
                self.rules.clone()
            },
            national_area_share: self.signal.national_area_share,
            national_min_areas: self.signal.national_min_areas,
            evidence_posts: self.signal.evidence_posts,
            max_areas: self.signal.max_areas,
            // The pipeline pins the areas of the areas file.
            pinned_areas: Default::default(),
            budget: Budget {
                false_warnings_per_area_year: self.signal.false_warnings_per_area_year,
                max_per_author: self.signal.max_tense_posts_per_author,
            },
        }
    }

    /// The limits on accepted posts.
    pub fn limits(&self) -> Limits {
        Limits {
            max_message_bytes: self.input.max_message_bytes,
            max_text_bytes: self.input.max_text_bytes,
            max_future_ms: i64::from(self.signal.max_future_minutes) * 60_000,
        }
    }
}

/// A boolean written as one: `true` or `false` (in an environment variable, the
/// text `true` or `false`). The configuration crate would read "yes", "on" or "1"
/// as true: a key that guards access must mean what it says.
fn strict_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Strict;
    impl serde::de::Visitor<'_> for Strict {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<bool, E> {
            match value {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
            }
        }
    }
    deserializer.deserialize_any(Strict)
}

/// An http(s) URL with a host, or an error naming `key`.
fn check_url(key: &str, url: &str) -> Result<(), String> {
    let bad = |why: String| Err(format!("{key}: {url:?} is not an http(s) URL: {why}"));
    // WHATWG parsing (the `url` crate, as reqwest's): `http://[::1` and
    // `http://a:b:c:d/` fail here, as they would at the first delivery.
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(error) => return bad(error.to_string()),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return bad(format!("the scheme is {:?}", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return bad("no host".into());
    }
    if url.contains(char::is_whitespace) {
        return bad("it contains white space".into());
    }
    Ok(())
}
