//! Why an event alerted: each feature occluded by its training baseline.
//!
//! A feature's contribution to an event's score is `score(event) − score(event with that
//! feature replaced by its baseline)`: how much of the score would go away if that one field
//! looked ordinary. The reasons are the features with a positive contribution, largest first,
//! at most [`TOP_REASONS`] of them. Occlusion needs nothing but scores, so it explains every
//! detector kind the same way; the perturbed events of a whole batch are scored in one call.
//!
//! The baseline is the feature's mean on the training split **rounded to the input's integer
//! units**: every feature is an integer field (or the paper encoding's small integers), so the
//! replaced event is one the input could hold, and anyone can reproduce a reason by writing
//! the baseline into the row and scoring it again.
//!
//! ```
//! use beth_detect::scoring::explain::Explainer;
//! use beth_detect::features::{FeatureScaler, FeatureSet};
//!
//! let scaler = FeatureScaler::new(FeatureSet::Seed, &[10.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[1.0; 7])?;
//! let explainer = Explainer::new(&scaler);
//! assert_eq!(explainer.baseline()[0], 10);
//! // A toy score that only looks at the first feature: 0.9 at its value 1000, 0.2 at 10.
//! let score = |rows: &[[f64; 7]]| -> Vec<f32> {
//!     rows.iter().map(|r| if r[0] > 100.0 { 0.9 } else { 0.2 }).collect()
//! };
//! let event = [1000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
//! let reasons = explainer.explain(&[event], &[0.9], score);
//! assert_eq!(reasons[0].len(), 1);
//! assert_eq!((reasons[0][0].feature, reasons[0][0].value, reasons[0][0].baseline), ("processId", 1000, 10));
//! assert!((reasons[0][0].contribution - 0.7).abs() < 1e-6);
//! # Ok::<(), beth_detect::Error>(())
//! ```

use serde::Serialize;
use std::fmt::Write as _;

use crate::features::{FEATURE_WIDTH, FeatureScaler};

/// The most reasons an alert carries.
pub const TOP_REASONS: usize = 3;

/// One feature that pushed an event's score up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reason {
    /// The feature's name (its input column).
    pub feature: &'static str,
    /// The event's value of the feature, in the input's units (the encoded value for the
    /// `paper` feature set).
    pub value: i64,
    /// The value it was replaced with: the training mean, rounded.
    pub baseline: i64,
    /// How much the score drops when the feature is replaced (always > 0).
    pub contribution: f32,
}

impl Reason {
    /// `userId=1000 (+0.412)`: the form the CSV output and alert lines use.
    pub fn short(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for Reason {
    /// The short form, [`Reason::short`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={} ({:+.3})",
            self.feature, self.value, self.contribution
        )
    }
}

/// Reasons joined as `userId=1000 (+0.412); processId=7 (+0.100)`.
pub fn reasons_text(reasons: &[Reason]) -> String {
    let mut text = String::new();
    for (i, r) in reasons.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        let _ = write!(text, "{r}");
    }
    text
}

/// Occlusion with a fitted scaler's baselines.
#[derive(Debug, Clone, PartialEq)]
pub struct Explainer {
    names: [&'static str; FEATURE_WIDTH],
    baseline: [i64; FEATURE_WIDTH],
}

impl Explainer {
    /// Baselines from the training means the scaler was fitted with.
    pub fn new(scaler: &FeatureScaler) -> Self {
        Explainer {
            names: scaler.feature_set().names(),
            baseline: scaler.mean().map(|m| m.round() as i64),
        }
    }

    /// Each feature's replacement value.
    pub fn baseline(&self) -> &[i64; FEATURE_WIDTH] {
        &self.baseline
    }

    /// The reasons for each event.
    ///
    /// `rows` are the events' encoded features ([`FeatureSet::encode`]), `scores` their
    /// scores, and `score_rows` scores encoded rows the same way (it is called once, with
    /// `7 × rows.len()` rows).
    ///
    /// [`FeatureSet::encode`]: crate::features::FeatureSet::encode
    pub fn explain(
        &self,
        rows: &[[f64; FEATURE_WIDTH]],
        scores: &[f32],
        score_rows: impl FnOnce(&[[f64; FEATURE_WIDTH]]) -> Vec<f32>,
    ) -> Vec<Vec<Reason>> {
        if rows.is_empty() {
            return Vec::new();
        }
        let mut occluded = Vec::with_capacity(rows.len() * FEATURE_WIDTH);
        for row in rows {
            for (j, &b) in self.baseline.iter().enumerate() {
                let mut r = *row;
                r[j] = b as f64;
                occluded.push(r);
            }
        }
        let occluded_scores = score_rows(&occluded);
        rows.iter()
            .zip(scores)
            .zip(occluded_scores.chunks_exact(FEATURE_WIDTH))
            .map(|((row, &score), without)| {
                let mut reasons: Vec<Reason> = (0..FEATURE_WIDTH)
                    .map(|j| Reason {
                        feature: self.names[j],
                        value: row[j] as i64,
                        baseline: self.baseline[j],
                        contribution: score - without[j],
                    })
                    .filter(|r| r.contribution > 0.0)
                    .collect();
                // Stable: equal contributions keep the feature order.
                reasons.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
                reasons.truncate(TOP_REASONS);
                reasons
            })
            .collect()
    }
}
