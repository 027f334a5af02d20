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

    /// FP / (FP + TN): the share of benign events that alert, 0 without benign events.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }

    /// The benign events and those of them that alert.
    pub fn benign_alerts(&self) -> AlertRate {
        AlertRate {
            events: self.fp + self.tn,
            alerts: self.fp,
        }
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
    /// An alert budget in alerts per million benign events: [`ThresholdRule::Fpr`] with
    /// `X = N / 1,000,000`, written the way an analyst plans a queue (`per-million:100`).
    PerMillion(f64),
}

/// The alert budget label-free detectors get when no rule is given: at most 1 in 100 benign
/// validation events alerts. Chosen on the bundled real rows (README, "Thresholds"): tighter
/// budgets cost the autoencoder most of its recall there (`fpr:0.001`: 0.17–0.92 over seeds).
/// A host's own traffic can set a tighter one ([`crate::detector::calibration`]).
pub const DEFAULT_ALERT_BUDGET: ThresholdRule = ThresholdRule::Fpr(0.01);

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
            ThresholdRule::PerMillion(n) => write!(f, "per-million:{n}"),
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
                let invalid = || Error::InvalidConfig {
                    name: "threshold",
                    expected: "a probability in [0, 1], `max-f1`, `youden`, `fpr:X` with X in [0, 1] or `per-million:N` with N in [0, 1000000]",
                    found: other.to_string(),
                };
                let number = |text: &str, max: f64| match text.parse::<f64>() {
                    Ok(v) if (0.0..=max).contains(&v) => Ok(v),
                    _ => Err(invalid()),
                };
                if let Some(x) = other.strip_prefix("fpr:") {
                    Ok(ThresholdRule::Fpr(number(x, 1.0)?))
                } else if let Some(n) = other.strip_prefix("per-million:") {
                    Ok(ThresholdRule::PerMillion(number(n, 1e6)?))
                } else {
                    Ok(ThresholdRule::Fixed(number(other, 1.0)?))
                }
            }
        }
    }
}

impl ThresholdRule {
    /// Whether the rule needs labelled validation rows (`max-f1`, `youden`).
    pub fn needs_labels(&self) -> bool {
        matches!(self, ThresholdRule::MaxF1 | ThresholdRule::Youden)
    }

    /// Whether the rule is an alert budget (`fpr:X`, `per-million:N`): the only rules that can
    /// be fitted on a host's normal traffic alone ([`crate::detector::calibration`]).
    pub fn is_alert_budget(&self) -> bool {
        matches!(self, ThresholdRule::Fpr(_) | ThresholdRule::PerMillion(_))
    }

    /// The rule a detector gets when none is given: `max-f1` on labelled validation rows for
    /// the supervised network, the [`DEFAULT_ALERT_BUDGET`] for label-free detectors and for
    /// data without labels. A fixed 0.5 fails on data as imbalanced as BETH's (no probability
    /// of the supervised network reaches it when 0.17% of training rows are positive; a
    /// forest flags about half of a new host's events at it).
    pub fn default_for(label_free: bool, labelled: bool) -> ThresholdRule {
        if label_free || !labelled {
            DEFAULT_ALERT_BUDGET
        } else {
            ThresholdRule::MaxF1
        }
    }

    /// The rule that applies to these validation labels: a rule that needs both classes
    /// (F1, Youden's J) gives way to the [`DEFAULT_ALERT_BUDGET`] when the labels hold one
    /// class, or none; any other rule is itself.
    pub fn applicable(&self, targets: &[u8]) -> ThresholdRule {
        let positives = targets.iter().filter(|&&t| t == 1).count();
        if self.needs_labels() && (positives == 0 || positives == targets.len()) {
            DEFAULT_ALERT_BUDGET
        } else {
            *self
        }
    }

    /// The threshold this rule picks on validation scores and their labels (`targets` empty
    /// when there are none). Among equally good thresholds the highest is taken (fewest
    /// alerts). A rule that needs both classes where one is missing chooses as
    /// [`applicable`](Self::applicable) says: by the default alert budget.
    pub fn choose(&self, scores: &[f32], targets: &[u8]) -> f64 {
        let rule = self.applicable(targets);
        if rule != *self {
            return rule.choose(scores, targets);
        }
        let score = |c: &Confusion| -> f64 {
            match self {
                ThresholdRule::Fixed(_) | ThresholdRule::Fpr(_) | ThresholdRule::PerMillion(_) => {
                    0.0
                }
                ThresholdRule::MaxF1 => c.f1(),
                ThresholdRule::Youden => c.recall() - c.false_positive_rate(),
            }
        };
        match self {
            ThresholdRule::Fixed(t) => *t,
            ThresholdRule::Fpr(budget) => fpr_threshold(scores, targets, *budget),
            ThresholdRule::PerMillion(n) => fpr_threshold(scores, targets, n / 1e6),
            _ => {
                if targets.len() != scores.len() {
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

/// How often events alerted at a threshold on the rows it was set on: the benign validation
/// rows (every validation row without labels) when trained, the host's own traffic when
/// calibrated. A file that alerts far more often is either under attack or unlike those rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRate {
    /// Events scored.
    pub events: u64,
    /// Events at or above the threshold.
    pub alerts: u64,
}

/// Files with fewer events than this are never called unusual: too few to judge a rate.
pub const UNUSUAL_MIN_EVENTS: u64 = 1_000;
/// A file is unusual when it alerts at this many times the rate the threshold was set at.
pub const UNUSUAL_FACTOR: f64 = 10.0;

impl AlertRate {
    /// Counts the benign rows (every row when `targets` is empty) at or above `threshold`.
    pub fn of(scores: &[f32], targets: &[u8], threshold: f64) -> AlertRate {
        if !targets.is_empty() {
            return Confusion::at(scores, targets, threshold).benign_alerts();
        }
        AlertRate {
            events: scores.len() as u64,
            alerts: scores.iter().filter(|&&s| s as f64 >= threshold).count() as u64,
        }
    }

    /// `alerts / events` (0 without events).
    pub fn rate(&self) -> f64 {
        ratio(self.alerts, self.events)
    }

    /// The rate a file is compared with: counted as at least one alert, so that a threshold
    /// no benign row reached still gives a yardstick (one in `events`, not zero).
    pub fn yardstick(&self) -> f64 {
        ratio(self.alerts.max(1), self.events)
    }

    /// How many times this [`yardstick`](Self::yardstick) `other` alerts at.
    pub fn times(&self, other: &AlertRate) -> f64 {
        // (alerts / events) / (max(set alerts, 1) / set events), as one exact quotient.
        (other.alerts as f64 * self.events as f64)
            / (other.events.max(1) as f64 * self.alerts.max(1) as f64)
    }

    /// How many times this yardstick a file of `events` events with `alerts` alerts runs at,
    /// when that is at least [`UNUSUAL_FACTOR`] and the file has at least
    /// [`UNUSUAL_MIN_EVENTS`] events; `None` otherwise.
    pub fn unusual(&self, events: u64, alerts: u64) -> Option<f64> {
        if events < UNUSUAL_MIN_EVENTS || self.events == 0 {
            return None;
        }
        let factor = self.times(&AlertRate { events, alerts });
        (factor >= UNUSUAL_FACTOR).then_some(factor)
    }
}
