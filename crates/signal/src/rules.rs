//! Alert rules: what to measure over which window, when to fire, when to clear.
//!
//! A rule fires for an area when its condition has held for `hold_minutes`
//! consecutive evaluations, resolves when its metric has stayed below `clear_below`
//! for `clear_minutes` (hysteresis: no flapping around the threshold), and cannot
//! fire again for the same area before `cooldown_minutes` have passed.

use serde::{Deserialize, Serialize};

/// How serious an alert is (contract section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Unusual activity without tension (a volume surge).
    Info,
    /// Elevated tension.
    Warning,
    /// High tension that is still rising.
    Critical,
}

impl Severity {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What a rule measures over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// How far the tense posts exceed the number the expected share predicts (the
    /// area's baseline share, or what other areas reach now if that is higher), on
    /// the stabilised count scale of `stats::count_excess_z`.
    TensionZ,
    /// How far the post count exceeds the area's normal for the hour (stabilised z).
    VolumeZ,
    /// The evidence of a rise in the tense share accumulated since it began, over
    /// the threshold the false-warning budget sets (`accumulate`): 1 has crossed.
    /// The rule's window only decides when the alert clears: once the window's
    /// tension z is below `clear_below` and no evidence has crossed again.
    TensionEvidence,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its name, in alerts.
    pub name: String,
    /// The alerts' severity. A rule on volume alone is never above `info`.
    pub severity: Severity,
    /// What it measures.
    pub metric: Metric,
    /// Over which window, in minutes (one of the configured windows).
    pub window_minutes: u32,
    /// Fire when the metric is at least this.
    pub threshold: f64,
    /// Clear when the metric is below this.
    pub clear_below: f64,
    /// The window must have at least this many posts.
    #[serde(default)]
    pub min_posts: u32,
    /// ... and at least this many tense posts (for `tension_evidence`: distinct
    /// authors of the tense posts its evidence rests on).
    #[serde(default)]
    pub min_tension_posts: u32,
    /// ... and a tension share at least this many times the expected share.
    #[serde(default)]
    pub min_lift: f64,
    /// ... and a tension share above that of the longest window (still rising).
    #[serde(default)]
    pub rising: bool,
    /// Minutes the condition must hold before the alert fires.
    #[serde(default = "one")]
    pub hold_minutes: u32,
    /// Minutes below `clear_below` before the alert resolves.
    #[serde(default = "one")]
    pub clear_minutes: u32,
    /// Minutes after resolving before the same area can fire this rule again.
    #[serde(default)]
    pub cooldown_minutes: u32,
}

fn one() -> u32 {
    1
}

impl Rule {
    /// Checks the rule on its own; `windows` are the configured window lengths.
    pub fn validate(&self, windows: &[u32]) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name is empty".into());
        }
        if !windows.contains(&self.window_minutes) {
            return Err(format!(
                "window_minutes {} is not one of the configured windows {windows:?}",
                self.window_minutes
            ));
        }
        if self.metric == Metric::VolumeZ && self.severity > Severity::Info {
            return Err(
                "a volume rule can only be `info`: volume without tension is not tension".into(),
            );
        }
        // Accumulated evidence clears on the window's tension z, another scale.
        if !(self.threshold.is_finite() && self.clear_below.is_finite())
            || (self.clear_below > self.threshold && self.metric != Metric::TensionEvidence)
        {
            return Err(format!(
                "clear_below {} must be finite and not above threshold {}",
                self.clear_below, self.threshold
            ));
        }
        if self.threshold <= 0.0 {
            // A rule that held on an empty window would fire in every quiet area.
            return Err(format!("threshold {} must be above 0", self.threshold));
        }
        if self.hold_minutes == 0 || self.clear_minutes == 0 {
            return Err("hold_minutes and clear_minutes must be at least 1".into());
        }
        Ok(())
    }

    /// The built-in rules (contract: severity meanings). Thresholds are in standard
    /// errors on evidence-aware scales (see `stats`); the minimum counts keep a
    /// handful of angry posts from being an incident.
    pub fn defaults() -> Vec<Rule> {
        vec![
            Rule {
                name: "volume_surge".into(),
                severity: Severity::Info,
                metric: Metric::VolumeZ,
                window_minutes: 15,
                threshold: 6.0,
                clear_below: 2.0,
                min_posts: 40,
                min_tension_posts: 0,
                min_lift: 0.0,
                rising: false,
                hold_minutes: 3,
                clear_minutes: 15,
                cooldown_minutes: 60,
            },
            Rule {
                name: "tension_elevated".into(),
                severity: Severity::Warning,
                metric: Metric::TensionEvidence,
                window_minutes: 15,
                threshold: 1.0,
                clear_below: 1.5,
                min_posts: 0,
                min_tension_posts: 3,
                min_lift: 0.0,
                rising: false,
                hold_minutes: 1,
                clear_minutes: 20,
                cooldown_minutes: 30,
            },
            Rule {
                name: "tension_critical".into(),
                severity: Severity::Critical,
                metric: Metric::TensionZ,
                window_minutes: 15,
                threshold: 7.0,
                clear_below: 3.0,
                min_posts: 20,
                min_tension_posts: 15,
                min_lift: 3.0,
                rising: true,
                hold_minutes: 3,
                clear_minutes: 15,
                cooldown_minutes: 30,
            },
        ]
    }
}

/// What the rule decided at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    None,
    /// The alert fires; the condition began to hold at this minute.
    Fire {
        /// The first minute of the hold.
        since: i64,
    },
    /// The alert resolves; the metric fell below `clear_below` at this minute.
    Resolve {
        /// The first minute below.
        since: i64,
    },
}

/// One rule's state for one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleState {
    /// Whether an alert is active.
    pub active: bool,
    held_since: Option<i64>,
    clearing_since: Option<i64>,
    cooldown_until: i64,
}

impl RuleState {
    /// Whether nothing is under way: no alert, no condition holding or clearing.
    pub fn is_idle(&self) -> bool {
        !self.active && self.held_since.is_none() && self.clearing_since.is_none()
    }

    /// Steps the state machine at `minute`: `holds` is whether the firing condition
    /// holds, `cleared` whether the metric is below `clear_below`.
    pub fn step(&mut self, rule: &Rule, minute: i64, holds: bool, cleared: bool) -> Transition {
        if self.active {
            if !cleared {
                self.clearing_since = None;
                return Transition::None;
            }
            let since = *self.clearing_since.get_or_insert(minute);
            if minute - since + 1 >= i64::from(rule.clear_minutes) {
                self.active = false;
                self.clearing_since = None;
                self.held_since = None;
                self.cooldown_until = minute + i64::from(rule.cooldown_minutes);
                return Transition::Resolve { since };
            }
            return Transition::None;
        }
        if !holds || minute < self.cooldown_until {
            self.held_since = None;
            return Transition::None;
        }
        let since = *self.held_since.get_or_insert(minute);
        if minute - since + 1 >= i64::from(rule.hold_minutes) {
            self.active = true;
            return Transition::Fire { since };
        }
        Transition::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(hold: u32, clear: u32, cooldown: u32) -> Rule {
        Rule {
            hold_minutes: hold,
            clear_minutes: clear,
            cooldown_minutes: cooldown,
            ..Rule::defaults()[1].clone()
        }
    }

    #[test]
    fn fires_after_holding_and_reports_when_it_began() {
        let rule = rule(3, 2, 0);
        let mut state = RuleState::default();
        assert_eq!(state.step(&rule, 10, true, false), Transition::None);
        assert_eq!(state.step(&rule, 11, true, false), Transition::None);
        assert_eq!(
            state.step(&rule, 12, true, false),
            Transition::Fire { since: 10 }
        );
        assert!(state.active);
    }

    #[test]
    fn an_interrupted_hold_starts_over() {
        let rule = rule(3, 2, 0);
        let mut state = RuleState::default();
        state.step(&rule, 10, true, false);
        state.step(&rule, 11, false, true);
        state.step(&rule, 12, true, false);
        state.step(&rule, 13, true, false);
        assert_eq!(
            state.step(&rule, 14, true, false),
            Transition::Fire { since: 12 }
        );
    }

    #[test]
    fn hysteresis_and_cooldown() {
        let rule = rule(1, 3, 30);
        let mut state = RuleState::default();
        assert_eq!(
            state.step(&rule, 0, true, false),
            Transition::Fire { since: 0 }
        );
        // Below the firing threshold but above clear_below: stays active.
        assert_eq!(state.step(&rule, 1, false, false), Transition::None);
        assert_eq!(state.step(&rule, 2, false, true), Transition::None);
        assert_eq!(
            state.step(&rule, 3, false, false),
            Transition::None,
            "clearing restarts"
        );
        state.step(&rule, 4, false, true);
        state.step(&rule, 5, false, true);
        assert_eq!(
            state.step(&rule, 6, false, true),
            Transition::Resolve { since: 4 }
        );
        assert_eq!(
            state.step(&rule, 7, true, false),
            Transition::None,
            "cooling down"
        );
        assert_eq!(
            state.step(&rule, 36, true, false),
            Transition::Fire { since: 36 }
        );
    }

    #[test]
    fn defaults_are_valid_and_volume_stays_info() {
        for rule in Rule::defaults() {
            rule.validate(&[15, 60]).expect("default rule valid");
        }
        let loud = Rule {
            severity: Severity::Warning,
            ..Rule::defaults()[0].clone()
        };
        assert!(loud
            .validate(&[15, 60])
            .expect_err("volume warning")
            .contains("only be `info`"));
        let odd_window = Rule {
            window_minutes: 7,
            ..Rule::defaults()[1].clone()
        };
        assert!(odd_window.validate(&[15, 60]).is_err());
        let fires_on_nothing = Rule {
            threshold: 0.0,
            clear_below: -1.0,
            ..Rule::defaults()[1].clone()
        };
        assert!(fires_on_nothing
            .validate(&[15, 60])
            .expect_err("zero threshold")
            .contains("above 0"));
    }
}
