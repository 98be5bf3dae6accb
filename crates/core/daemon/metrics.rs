//! The daemon's Prometheus metrics (contract section 7), in one registry.
//!
//! Per-area gauges are capped at `max_area_series` areas: the busiest areas of the
//! last publication keep a series, the rest are removed, so a flood of area ids
//! cannot blow up the number of series.

use std::collections::HashSet;

use anyhow::Result;
use onrust_signal::engine::AreaFigures;
use onrust_signal::Rejection;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    /// `onrust_posts_total{lang}`: posts accepted.
    pub posts: IntCounterVec,
    /// `onrust_posts_rejected_total{reason}`.
    pub rejected: IntCounterVec,
    /// `onrust_posts_unresolved_total`: accepted posts in no area.
    pub unresolved: IntCounter,
    /// `onrust_posts_late_total{partition}`: posts whose minute was already
    /// closed, by the input partition they came from (from the checkpointed
    /// counts, so exact across restarts).
    pub late: IntCounterVec,
    /// `onrust_partition_watermark_seconds{partition}`: each input partition's
    /// newest event time.
    pub partition_watermark: prometheus::GaugeVec,
    /// `onrust_watermark_seconds`: the event time every partition with something
    /// to read has reached (the engine closes minutes up to the allowed lateness
    /// before it).
    pub watermark: prometheus::Gauge,
    /// `onrust_kafka_partitions_paused`: partitions held back for running ahead of
    /// the slowest.
    pub partitions_paused: IntGauge,
    /// `onrust_posts_held`: posts held back for lying too far ahead of the
    /// watermark for the windows (added once it comes near).
    pub posts_held: IntGauge,
    /// `onrust_kafka_offset_resets_total{partition}`: checkpointed positions the
    /// broker no longer had (a recreated topic, a wiped broker).
    pub offset_resets: IntCounterVec,
    /// `onrust_posts_located_total{how}`: how accepted posts were located.
    pub located: IntCounterVec,
    /// `onrust_areas_evicted_total`: quiet areas forgotten to stay within
    /// `signal.max_areas` (a flood of made-up area ids).
    pub evicted: IntCounter,
    /// `onrust_posts_skipped_total`: messages already counted by a checkpoint.
    pub skipped: IntCounter,
    /// `onrust_kafka_offsets_missed_total`: offsets the broker skipped over.
    pub offsets_missed: IntCounter,
    /// `onrust_area_posts{area}`: posts in the area's shortest window.
    pub area_posts: prometheus::GaugeVec,
    /// `onrust_area_tension{area}`: share of tense posts in that window.
    pub area_tension: prometheus::GaugeVec,
    /// `onrust_area_sentiment{area}`: mean sentiment in that window.
    pub area_sentiment: prometheus::GaugeVec,
    /// `onrust_alerts_firing{severity}`.
    pub alerts_firing: IntGaugeVec,
    /// `onrust_alert_events_total{rule,status}`.
    pub alert_events: IntCounterVec,
    /// `onrust_webhook_deliveries_total{sink,outcome}`: `delivered`, `retried`,
    /// `failed` (given up: a 4xx other than 408/429).
    pub deliveries: IntCounterVec,
    /// `onrust_outbox_pending`: deliveries waiting.
    pub outbox_pending: IntGauge,
    /// `onrust_kafka_consumer_lag`: messages behind the end of the assigned partitions.
    pub consumer_lag: IntGauge,
    /// `onrust_dead_letters_total`: messages written to the dead-letter topic.
    pub dead_letters: IntCounter,
    /// `onrust_posts_duplicate_total`: posts whose id (per source) was seen
    /// before, not counted again.
    pub duplicates: IntCounter,
    /// `onrust_http_connections_refused_total`: connections closed at once, their
    /// client holding `http.max_connections_per_client` already.
    pub http_connections_refused: IntCounter,
    /// `onrust_http_event_clients_refused_total`: `/api/v1/events` clients refused
    /// (503) beyond `http.max_event_clients`, or dropped for reading too slowly.
    pub event_clients_refused: IntCounterVec,
    /// `onrust_dead_letters_waiting`: dead letters in the store, not yet
    /// acknowledged by the dead-letter topic.
    pub dead_letters_waiting: IntGauge,
    /// `onrust_dead_letter_failures_total`: rounds in which the dead-letter topic
    /// refused or did not answer (retried).
    pub dead_letter_failures: IntCounter,
    /// `onrust_dead_letters_dropped_total`: dead letters not kept because the
    /// most allowed already waited (each still counted as rejected).
    pub dead_letters_dropped: IntCounter,
    /// `onrust_checkpoints_total`.
    pub checkpoints: IntCounter,
    /// `onrust_processing_seconds`: from a post's arrival to its effect on the
    /// area figures (scored and aggregated).
    pub processing: Histogram,
    /// `onrust_ingest_delay_seconds`: from a message's Kafka timestamp (its
    /// producer's clock) to its effect on the area figures.
    pub ingest_delay: Histogram,
    /// `onrust_alert_delivery_seconds{sink}`: from the arrival of the post that
    /// raised an alert event to its receiver's 2xx.
    pub alert_delivery: HistogramVec,
    max_area_series: usize,
    area_series: std::sync::Mutex<HashSet<String>>,
}

impl Metrics {
    /// Registers every metric; per-area series are capped at `max_area_series`.
    pub fn new(max_area_series: usize) -> Result<Metrics> {
        let registry = Registry::new();
        // process_resident_memory_bytes, process_cpu_seconds_total, open fds.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let counter_vec = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec> {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter> {
            let metric = IntCounter::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let area_gauge = |name: &str, help: &str| -> Result<prometheus::GaugeVec> {
            let metric = prometheus::GaugeVec::new(Opts::new(name, help), &["area"])?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let rejected = counter_vec(
            "onrust_posts_rejected_total",
            "Messages rejected, by reason",
            &["reason"],
        )?;
        for reason in Rejection::ALL {
            rejected.with_label_values(&[reason.as_str()]);
        }
        let alerts_firing = IntGaugeVec::new(
            Opts::new("onrust_alerts_firing", "Alerts firing now, by severity"),
            &["severity"],
        )?;
        registry.register(Box::new(alerts_firing.clone()))?;
        for severity in ["info", "warning", "critical"] {
            alerts_firing.with_label_values(&[severity]);
        }
        let histogram = |name: &str, help: &str, buckets: &[f64]| -> Result<Histogram> {
            let metric =
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let processing = histogram(
            "onrust_processing_seconds",
            "From a post's arrival to its effect on the area figures",
            &[
                0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
            ],
        )?;
        let ingest_delay = histogram(
            "onrust_ingest_delay_seconds",
            "From a message's Kafka timestamp to its effect on the area figures",
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0, 300.0, 900.0, 3600.0,
            ],
        )?;
        let alert_delivery = HistogramVec::new(
            HistogramOpts::new(
                "onrust_alert_delivery_seconds",
                "From the arrival of the post that raised an alert event to its receiver's 2xx",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
            &["sink"],
        )?;
        registry.register(Box::new(alert_delivery.clone()))?;
        let metrics = Metrics {
            posts: counter_vec(
                "onrust_posts_total",
                "Posts accepted, by language",
                &["lang"],
            )?,
            rejected,
            unresolved: counter("onrust_posts_unresolved_total", "Accepted posts in no area")?,
            late: counter_vec(
                "onrust_posts_late_total",
                "Posts older than the watermark: counted, not aggregated; by input partition",
                &["partition"],
            )?,
            partition_watermark: {
                let metric = prometheus::GaugeVec::new(
                    Opts::new(
                        "onrust_partition_watermark_seconds",
                        "Newest event time of each input partition (Unix seconds)",
                    ),
                    &["partition"],
                )?;
                registry.register(Box::new(metric.clone()))?;
                metric
            },
            watermark: {
                let metric = prometheus::Gauge::new(
                    "onrust_watermark_seconds",
                    "Event time every input partition with something to read has reached (Unix seconds)",
                )?;
                registry.register(Box::new(metric.clone()))?;
                metric
            },
            partitions_paused: gauge(
                "onrust_kafka_partitions_paused",
                "Partitions paused for running too far ahead of the slowest in event time",
            )?,
            posts_held: gauge(
                "onrust_posts_held",
                "Posts held back for lying too far ahead of the event-time watermark",
            )?,
            offset_resets: counter_vec(
                "onrust_kafka_offset_resets_total",
                "Checkpointed positions the broker no longer has (topic recreated, broker wiped)",
                &["partition"],
            )?,
            located: counter_vec(
                "onrust_posts_located_total",
                "Accepted posts by how they were located",
                &["how"],
            )?,
            evicted: counter(
                "onrust_areas_evicted_total",
                "Quiet areas forgotten to stay within signal.max_areas",
            )?,
            offsets_missed: counter(
                "onrust_kafka_offsets_missed_total",
                "Offsets the broker skipped over: transaction markers or compaction, else messages lost",
            )?,
            skipped: counter(
                "onrust_posts_skipped_total",
                "Messages read again after a restart and skipped: their checkpoint counted them",
            )?,
            area_posts: area_gauge("onrust_area_posts", "Posts in the area's shortest window")?,
            area_tension: area_gauge(
                "onrust_area_tension",
                "Share of tense posts in the area's shortest window",
            )?,
            area_sentiment: area_gauge(
                "onrust_area_sentiment",
                "Mean sentiment in the area's shortest window",
            )?,
            alerts_firing,
            alert_events: counter_vec(
                "onrust_alert_events_total",
                "Alert events raised, by rule and status",
                &["rule", "status"],
            )?,
            deliveries: counter_vec(
                "onrust_webhook_deliveries_total",
                "Delivery attempts of alert events, by sink and outcome",
                &["sink", "outcome"],
            )?,
            outbox_pending: gauge("onrust_outbox_pending", "Alert deliveries waiting")?,
            consumer_lag: gauge(
                "onrust_kafka_consumer_lag",
                "Messages between the consumer's position and the end of its partitions",
            )?,
            dead_letters: counter(
                "onrust_dead_letters_total",
                "Rejected messages written to the dead-letter topic",
            )?,
            duplicates: counter(
                "onrust_posts_duplicate_total",
                "Posts whose id (per source) was seen before, not counted again",
            )?,
            http_connections_refused: counter(
                "onrust_http_connections_refused_total",
                "HTTP connections closed at once: their client holds the most allowed",
            )?,
            event_clients_refused: counter_vec(
                "onrust_http_event_clients_refused_total",
                "Event-stream clients refused beyond the cap (full) or dropped for reading too slowly (slow)",
                &["why"],
            )?,
            dead_letters_waiting: gauge(
                "onrust_dead_letters_waiting",
                "Dead letters stored and not yet acknowledged by the dead-letter topic",
            )?,
            dead_letter_failures: counter(
                "onrust_dead_letter_failures_total",
                "Rounds in which the dead-letter topic refused or did not answer (retried)",
            )?,
            dead_letters_dropped: counter(
                "onrust_dead_letters_dropped_total",
                "Dead letters not kept because too many already waited",
            )?,
            checkpoints: counter("onrust_checkpoints_total", "Checkpoints written")?,
            processing,
            ingest_delay,
            alert_delivery,
            registry,
            max_area_series,
            area_series: std::sync::Mutex::new(HashSet::new()),
        };
        Ok(metrics)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8(buffer)?)
    }

    /// Sets the per-area gauges from the engine's figures: the `max_area_series`
    /// areas with most posts keep a series, series of the others are removed.
    pub fn publish_areas(&self, figures: &[AreaFigures]) {
        let mut busiest: Vec<&AreaFigures> = figures.iter().collect();
        busiest.sort_by_key(|a| {
            (
                std::cmp::Reverse(a.windows.first().map_or(0, |w| w.posts)),
                a.id.as_str(),
            )
        });
        busiest.truncate(self.max_area_series);
        let keep: HashSet<String> = busiest.iter().map(|a| a.id.clone()).collect();
        let mut series = self
            .area_series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for gone in series.difference(&keep) {
            for gauge in [&self.area_posts, &self.area_tension, &self.area_sentiment] {
                // Absent already is fine: the aim is that it is absent.
                let _ = gauge.remove_label_values(&[gone.as_str()]);
            }
        }
        for area in busiest {
            if let Some(window) = area.windows.first() {
                let id = [area.id.as_str()];
                self.area_posts
                    .with_label_values(&id)
                    .set(f64::from(window.posts));
                self.area_tension.with_label_values(&id).set(window.tension);
                self.area_sentiment
                    .with_label_values(&id)
                    .set(window.sentiment);
            }
        }
        *series = keep;
    }
}

#[cfg(test)]
mod tests {
    use onrust_signal::engine::WindowFigures;

    use super::*;

    fn area(id: &str, posts: u32) -> AreaFigures {
        AreaFigures {
            id: id.into(),
            name: id.into(),
            windows: vec![WindowFigures {
                window: "15m".into(),
                posts,
                tension: 0.1,
                mean_tension: 0.1,
                sentiment: 0.0,
                negative_share: 0.0,
                baseline_posts: None,
                baseline_tension: 0.05,
            }],
            firing: Vec::new(),
        }
    }

    fn series(metrics: &Metrics) -> Vec<String> {
        let text = metrics.render().expect("render");
        let mut areas: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("onrust_area_posts{area=\""))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect();
        areas.sort();
        areas
    }

    #[test]
    fn per_area_series_are_capped_to_the_busiest_areas() {
        let metrics = Metrics::new(2).expect("metrics");
        metrics.publish_areas(&[area("a", 5), area("b", 50), area("c", 20)]);
        assert_eq!(series(&metrics), ["b", "c"]);
        // A flood of new ids: the busiest two keep a series, the rest none.
        let flood: Vec<AreaFigures> = (0..1000)
            .map(|i| area(&format!("x{i}"), 1))
            .chain([area("a", 90)])
            .collect();
        metrics.publish_areas(&flood);
        assert_eq!(series(&metrics), ["a", "x0"]);
    }

    #[test]
    fn every_rejection_reason_and_severity_is_exported_from_the_start() {
        let text = Metrics::new(10).expect("metrics").render().expect("render");
        for reason in Rejection::ALL {
            assert!(text.contains(&format!("reason=\"{}\"", reason.as_str())));
        }
        for severity in ["info", "warning", "critical"] {
            assert!(text.contains(&format!(
                "onrust_alerts_firing{{severity=\"{severity}\"}} 0"
            )));
        }
    }
}
