//! The one pipeline of `replay` and `run`: a message's bytes in, decoded, scored,
//! located, aggregated; alert events out. `replay` feeds it lines of a file, `run`
//! feeds it Kafka messages; nothing else differs.

use anyhow::Result;
use onrust_model::{Scorer, Sentiment};
use onrust_signal::areas::Located;
use onrust_signal::engine::{AlertEvent, Engine, ScoredPost};
use onrust_signal::{decode, Areas, Limits, Pseudonymiser, Rejection};
use onrust_text::Lang;

use crate::settings::Settings;
use crate::{models, UsageError};

/// What became of an accepted post, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    /// Its language (the hint, else the detected one, else undetermined).
    pub lang: Lang,
    /// How it was located.
    pub located: Located,
    /// Its event time, epoch ms.
    pub event_time_ms: i64,
}

/// Models, areas, the engine and the input limits, wired together.
pub struct Pipeline {
    scorer: Scorer,
    areas: Areas,
    geometry: Option<String>,
    engine: Engine,
    limits: Limits,
    pseudonymiser: Pseudonymiser,
}

impl Pipeline {
    /// The pipeline the configuration describes, with an engine that has no state;
    /// authors are pseudonymised with `pseudonymiser` before anything keeps them.
    pub fn new(settings: &Settings, pseudonymiser: Pseudonymiser) -> Result<Pipeline> {
        let geometry = match &settings.areas.file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| UsageError(format!("areas.file {}: {e}", path.display())))?;
                Some((format!("areas.file {}", path.display()), text))
            }
        };
        Pipeline::with_areas(settings, geometry, pseudonymiser)
    }

    /// As [`Pipeline::new`], with the areas given as (a name for errors, GeoJSON
    /// text); `None`: no areas.
    pub fn with_areas(
        settings: &Settings,
        areas: Option<(String, String)>,
        pseudonymiser: Pseudonymiser,
    ) -> Result<Pipeline> {
        let scorer = models::scorer(settings.model.dir.as_deref())?;
        let (areas, geometry) = match areas {
            None => (Areas::empty(), None),
            Some((name, text)) => (
                Areas::from_geojson(&text).map_err(|e| UsageError(format!("{name}: {e}")))?,
                Some(text),
            ),
        };
        Ok(Pipeline {
            scorer,
            areas,
            geometry,
            engine: Engine::new(settings.engine()),
            limits: settings.limits(),
            pseudonymiser,
        })
    }

    /// The areas file's text (GeoJSON), for maps; `None` without an areas file.
    pub fn geometry(&self) -> Option<&str> {
        self.geometry.as_deref()
    }

    /// Replaces the engine with one restored from a checkpoint.
    pub fn restore(&mut self, settings: &Settings, saved: &[u8]) -> Result<()> {
        self.engine = Engine::restore(settings.engine(), saved)?;
        Ok(())
    }

    /// The engine, to read its figures or save it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The areas file's areas.
    pub fn areas(&self) -> &Areas {
        &self.areas
    }

    /// Decodes, scores, locates and aggregates one message. A post without
    /// `created_at` takes `message_time_ms`, else `arrival_ms`. Alert events of the
    /// minutes it closes are appended to `events`.
    pub fn process(
        &mut self,
        message: &[u8],
        message_time_ms: Option<i64>,
        arrival_ms: i64,
        events: &mut Vec<AlertEvent>,
    ) -> Result<Accepted, Rejection> {
        let post = decode(message, &self.limits, message_time_ms, arrival_ms)?;
        let score = self.scorer.score(&post.text, post.lang);
        let (area, located) = self.areas.locate(&post);
        self.engine.add(
            &ScoredPost {
                id: &post.id,
                text: &post.text,
                author: post
                    .author
                    .as_deref()
                    .map(|a| self.pseudonymiser.pseudonym(a)),
                event_time_ms: post.event_time_ms,
                area,
                located,
                tension: score.tension,
                sentiment: score.sentiment,
                negative: score.label == Sentiment::Neg,
            },
            events,
        );
        Ok(Accepted {
            lang: score.lang,
            located,
            event_time_ms: post.event_time_ms,
        })
    }

    /// Closes every minute up to the newest post (end of a replay).
    pub fn finish(&mut self, events: &mut Vec<AlertEvent>) {
        self.engine.finish(events);
    }
}
