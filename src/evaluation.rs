//! Scores → report: exact binary-classification metrics in f64, over all rows at once.
//!
//! Nothing here knows about burn or BETH: plain slices of scores and 0/1 labels, so the
//! numbers can be checked against scikit-learn directly (`tests/fixtures/make_metric_fixtures.py`).
//!
//! Conventions, as in scikit-learn: an event is predicted positive when `score >= threshold`;
//! precision (recall, F1) is 0 when its denominator is 0; AUROC and average precision are
//! undefined (`None`, JSON `null`) when only one class is present.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Confusion matrix counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// True negatives.
    pub tn: u64,
    /// False negatives.
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Confusion {
    /// Counts at a threshold.
    pub fn at(scores: &[f32], targets: &[u8], threshold: f64) -> Self {
        let mut c = Confusion::default();
        for (&s, &t) in scores.iter().zip(targets) {
            c.record(s as f64 >= threshold, t == 1);
        }
        c
    }

    /// Counts one prediction.
    #[inline]
    pub fn record(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    /// Adds another matrix's counts.
    pub fn merge(&mut self, other: &Confusion) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.tn += other.tn;
        self.fn_ += other.fn_;
    }

    /// (TP + TN) / all.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }

    /// TP / (TP + FP), 0 when nothing is predicted positive.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// TP / (TP + FN), 0 when there are no positives.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Everything a user needs to judge a detector on one labelled dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// Events scored.
    pub rows: u64,
    /// Events labelled positive.
    pub positives: u64,
    /// Accuracy at the threshold.
    pub accuracy: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Area under the ROC curve (ties count ½, as the Mann–Whitney U statistic); `None` with
    /// one class only.
    pub auroc: Option<f64>,
    /// Average precision (scikit-learn's step-wise definition); `None` without positives.
    pub average_precision: Option<f64>,
    /// The decision threshold (`score >= threshold` is an alert).
    pub threshold: f64,
    /// Counts at the threshold.
    pub confusion: Confusion,
}

impl EvaluationReport {
    /// Computes the report; `scores` and `targets` must have the same length.
    pub fn compute(scores: &[f32], targets: &[u8], threshold: f64) -> Result<Self> {
        check_inputs(scores, targets)?;
        let confusion = Confusion::at(scores, targets, threshold);
        Ok(EvaluationReport {
            rows: scores.len() as u64,
            positives: targets.iter().filter(|&&t| t == 1).count() as u64,
            accuracy: confusion.accuracy(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            auroc: auroc(scores, targets),
            average_precision: average_precision(scores, targets),
            threshold,
            confusion,
        })
    }
}

fn check_inputs(scores: &[f32], targets: &[u8]) -> Result<()> {
    if scores.len() != targets.len() {
        return Err(Error::InvalidConfig {
            name: "evaluation input",
            expected: "as many scores as labels",
            found: format!("{} scores and {} labels", scores.len(), targets.len()),
        });
    }
    if let Some(s) = scores.iter().find(|s| !s.is_finite()) {
        return Err(Error::InvalidConfig {
            name: "score",
            expected: "a finite number",
            found: s.to_string(),
        });
    }
    Ok(())
}

/// Indices sorted by descending score (ties keep input order; order within ties never matters
/// to the results below, which treat a group of equal scores as one threshold).
fn order_descending(scores: &[f32]) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..scores.len() as u32).collect();
    idx.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
    idx
}

/// Groups of equal scores, from the highest: `(positives, negatives)` in each.
fn tie_groups(scores: &[f32], targets: &[u8]) -> Vec<(f32, u64, u64)> {
    let order = order_descending(scores);
    let mut groups: Vec<(f32, u64, u64)> = Vec::new();
    for i in order {
        let s = scores[i as usize];
        let positive = targets[i as usize] == 1;
        match groups.last_mut() {
            Some(g) if g.0 == s => {
                if positive {
                    g.1 += 1
                } else {
                    g.2 += 1
                }
            }
            _ => groups.push((s, positive as u64, (!positive) as u64)),
        }
    }
    groups
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting ½ (= scikit-learn's `roc_auc_score`). `None` with one class only.
pub fn auroc(scores: &[f32], targets: &[u8]) -> Option<f64> {
    let groups = tie_groups(scores, targets);
    let positives: u64 = groups.iter().map(|g| g.1).sum();
    let negatives: u64 = groups.iter().map(|g| g.2).sum();
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Walk from the highest score: each negative in a group is beaten by every positive seen
    // in earlier groups and ties with the positives in its own group.
    let mut above = 0u64;
    let mut wins = 0.0f64;
    for &(_, p, n) in &groups {
        wins += n as f64 * (above as f64 + 0.5 * p as f64);
        above += p;
    }
    Some(wins / (positives as f64 * negatives as f64))
}

/// Average precision: `Σ (Rₖ − Rₖ₋₁) · Pₖ` over the distinct thresholds, highest first
/// (= scikit-learn's `average_precision_score`). `None` without positives.
pub fn average_precision(scores: &[f32], targets: &[u8]) -> Option<f64> {
    let groups = tie_groups(scores, targets);
    let positives: u64 = groups.iter().map(|g| g.1).sum();
    if positives == 0 {
        return None;
    }
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut ap = 0.0;
    for &(_, p, n) in &groups {
        tp += p;
        fp += n;
        if p > 0 {
            ap += (p as f64 / positives as f64) * (tp as f64 / (tp + fp) as f64);
        }
    }
    Some(ap)
}

/// One point of a ROC or precision–recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Alerts are `score >= threshold`.
    pub threshold: f64,
    /// Counts at that threshold.
    pub confusion: Confusion,
}

/// The confusion matrix at every distinct score, highest threshold first.
pub fn curve(scores: &[f32], targets: &[u8]) -> Vec<CurvePoint> {
    let groups = tie_groups(scores, targets);
    let positives: u64 = groups.iter().map(|g| g.1).sum();
    let negatives: u64 = groups.iter().map(|g| g.2).sum();
    let (mut tp, mut fp) = (0u64, 0u64);
    groups
        .iter()
        .map(|&(s, p, n)| {
            tp += p;
            fp += n;
            CurvePoint {
                threshold: s as f64,
                confusion: Confusion {
                    tp,
                    fp,
                    tn: negatives - fp,
                    fn_: positives - tp,
                },
            }
        })
        .collect()
}

/// How the decision threshold is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdRule {
    /// A fixed threshold (0.5 by default).
    Fixed(f64),
    /// The score that maximises F1 on the validation split.
    MaxF1,
    /// The score that maximises Youden's J = TPR − FPR on the validation split.
    Youden,
    /// An alert budget: the lowest threshold at which at most this fraction of the benign
    /// validation rows alert (of all validation rows when none is labelled benign). Scores of
    /// exactly 1 always alert, so a budget below their share cannot be met.
    Fpr(f64),
}

impl Default for ThresholdRule {
    fn default() -> Self {
        ThresholdRule::Fixed(0.5)
    }
}

impl std::fmt::Display for ThresholdRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdRule::Fixed(t) => write!(f, "{t}"),
            ThresholdRule::MaxF1 => f.write_str("max-f1"),
            ThresholdRule::Youden => f.write_str("youden"),
            ThresholdRule::Fpr(x) => write!(f, "fpr:{x}"),
        }
    }
}

impl std::str::FromStr for ThresholdRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "max-f1" => Ok(ThresholdRule::MaxF1),
            "youden" => Ok(ThresholdRule::Youden),
            other => {
                let (fpr, number) = match other.strip_prefix("fpr:") {
                    Some(x) => (true, x),
                    None => (false, other),
                };
                match number.parse::<f64>() {
                    Ok(t) if (0.0..=1.0).contains(&t) && fpr => Ok(ThresholdRule::Fpr(t)),
                    Ok(t) if (0.0..=1.0).contains(&t) => Ok(ThresholdRule::Fixed(t)),
                    _ => Err(Error::InvalidConfig {
                        name: "threshold",
                        expected: "a probability in [0, 1], `max-f1`, `youden` or `fpr:X` with X in [0, 1]",
                        found: other.to_string(),
                    }),
                }
            }
        }
    }
}

impl ThresholdRule {
    /// The threshold this rule picks on validation scores and their labels (`targets` empty
    /// when there are none). Among equally good thresholds the highest is taken (fewest
    /// alerts). Rules that need both classes fall back to 0.5 when one is missing.
    pub fn choose(&self, scores: &[f32], targets: &[u8]) -> f64 {
        let score = |c: &Confusion| -> f64 {
            match self {
                ThresholdRule::Fixed(_) | ThresholdRule::Fpr(_) => 0.0,
                ThresholdRule::MaxF1 => c.f1(),
                ThresholdRule::Youden => c.recall() - ratio(c.fp, c.fp + c.tn),
            }
        };
        match self {
            ThresholdRule::Fixed(t) => *t,
            ThresholdRule::Fpr(budget) => fpr_threshold(scores, targets, *budget),
            _ => {
                let positives = targets.iter().filter(|&&t| t == 1).count();
                if positives == 0 || positives == targets.len() || targets.len() != scores.len() {
                    return 0.5;
                }
                let mut best = (f64::NEG_INFINITY, 0.5);
                for p in &curve(scores, targets) {
                    let v = score(&p.confusion);
                    if v > best.0 {
                        best = (v, p.threshold);
                    }
                }
                best.1
            }
        }
    }
}

/// The lowest threshold at which at most `budget` of the benign scores (all scores when there
/// are no benign ones) are at or above it: just above the (k+1)-th highest, k = ⌊budget · n⌋.
fn fpr_threshold(scores: &[f32], targets: &[u8], budget: f64) -> f64 {
    let mut benign: Vec<f32> = scores
        .iter()
        .zip(targets)
        .filter(|&(_, &t)| t == 0)
        .map(|(&s, _)| s)
        .collect();
    if benign.is_empty() {
        benign = scores.to_vec();
    }
    let allowed = (budget * benign.len() as f64).floor() as usize;
    if allowed >= benign.len() {
        return 0.0;
    }
    benign.sort_by(|a, b| b.total_cmp(a));
    // Scores are compared as `score as f64 >= threshold`: the next f32 up is the lowest
    // threshold that leaves this score (and every equal one) out.
    (benign[allowed].next_up() as f64).min(1.0)
}
