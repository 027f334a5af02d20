//! Metrics against hand-computed values and scikit-learn (tests/fixtures/make_metric_fixtures.py).

use beth_detect::evaluation::{
    Confusion, EvaluationReport, ThresholdRule, auroc, average_precision,
};

#[test]
fn perfect_inverted_and_tied_auroc_by_hand() {
    let labels = [0, 0, 1, 1];
    assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
    assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
    // Every pair tied: ½.
    assert_eq!(auroc(&[0.5, 0.5, 0.5, 0.5], &labels), Some(0.5));
    // Pairs (pos, neg): (0.5 vs 0.5) tie = ½, (0.5 vs 0.1) win, (0.9 vs both) wins → 3.5 / 4.
    assert_eq!(auroc(&[0.5, 0.1, 0.5, 0.9], &labels), Some(0.875));
}

#[test]
fn one_class_only_has_no_auroc() {
    assert_eq!(auroc(&[0.1, 0.7], &[1, 1]), None);
    assert_eq!(auroc(&[0.1, 0.7], &[0, 0]), None);
    assert_eq!(average_precision(&[0.1, 0.7], &[0, 0]), None);
    let r = EvaluationReport::compute(&[0.1, 0.7], &[0, 0], 0.5).unwrap();
    assert_eq!(r.auroc, None);
    // One false positive, one true negative.
    assert_eq!(r.accuracy, 0.5);
    assert_eq!((r.precision, r.recall, r.f1), (0.0, 0.0, 0.0));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["auroc"].is_null());
}

#[test]
fn average_precision_by_hand() {
    // Descending: 0.9 (pos), 0.8 (neg), 0.7 (pos). P@1 = 1, P@3 = 2/3; AP = ½·1 + ½·⅔ = 5/6.
    let ap = average_precision(&[0.7, 0.8, 0.9], &[1, 0, 1]).unwrap();
    assert!((ap - 5.0 / 6.0).abs() < 1e-15);
}

#[test]
fn confusion_and_threshold_by_hand() {
    let scores = [0.2, 0.5, 0.7, 0.4, 0.9];
    let labels = [0, 0, 1, 1, 1];
    // score >= 0.5 is an alert: tp = {0.7, 0.9}, fp = {0.5}, tn = {0.2}, fn = {0.4}.
    let c = Confusion::at(&scores, &labels, 0.5);
    assert_eq!(
        c,
        Confusion {
            tp: 2,
            fp: 1,
            tn: 1,
            fn_: 1
        }
    );
    assert_eq!(c.accuracy(), 0.6);
    assert_eq!(c.precision(), 2.0 / 3.0);
    assert_eq!(c.recall(), 2.0 / 3.0);
    // F1 = 2tp / (2tp + fp + fn) at t = 0.9, 0.7, 0.5, 0.4, 0.2: ½, ⅘, ⅔, 6/7, ¾ → 0.4.
    // Youden J = TPR − FPR at the same thresholds: ⅓, ⅔, ⅔ − ½, 1 − ½, 0 → 0.7.
    assert_eq!(ThresholdRule::MaxF1.choose(&scores, &labels), 0.4f32 as f64);
    assert_eq!(
        ThresholdRule::Youden.choose(&scores, &labels),
        0.7f32 as f64
    );
    assert_eq!(ThresholdRule::Fixed(0.3).choose(&scores, &labels), 0.3);
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["fn"], 1);
}

#[test]
fn report_json_has_the_promised_keys() {
    let r = EvaluationReport::compute(&[0.2, 0.9], &[0, 1], 0.5).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "rows",
        "positives",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "auroc",
        "average_precision",
        "threshold",
        "confusion",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    for key in ["tp", "fp", "tn", "fn"] {
        assert!(json["confusion"].get(key).is_some(), "{key}");
    }
    assert!(EvaluationReport::compute(&[0.2], &[0, 1], 0.5).is_err());
    assert!(EvaluationReport::compute(&[f32::NAN], &[0], 0.5).is_err());
}

#[test]
fn metrics_match_scikit_learn_on_tied_random_scores() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sklearn_metrics.json"
    ))
    .unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 5);
    for (i, case) in cases.iter().enumerate() {
        let scores: Vec<f32> = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let labels: Vec<u8> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        let r = EvaluationReport::compute(&scores, &labels, case["threshold"].as_f64().unwrap())
            .unwrap();
        let close = |ours: f64, key: &str| {
            let theirs = case[key].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() < 1e-12,
                "case {i} {key}: {ours} vs {theirs}"
            );
        };
        close(r.accuracy, "accuracy");
        close(r.precision, "precision");
        close(r.recall, "recall");
        close(r.f1, "f1");
        close(r.auroc.unwrap(), "auroc");
        close(r.average_precision.unwrap(), "average_precision");
    }
}

#[test]
fn fpr_budget_threshold_by_hand() {
    // Ten benign scores 0.1 … 1.0 and two positives. A 20% budget allows 2 benign alerts: the
    // threshold sits just above the third highest benign score, 0.8, so 0.9 and 1.0 alert.
    let mut scores: Vec<f32> = (1..=10).map(|i| i as f32 / 10.0).collect();
    let mut labels = vec![0u8; 10];
    scores.extend([0.85, 0.05]);
    labels.extend([1, 1]);
    let t = ThresholdRule::Fpr(0.2).choose(&scores, &labels);
    assert_eq!(t, 0.8f32.next_up() as f64);
    let benign_alerts = scores
        .iter()
        .zip(&labels)
        .filter(|&(&s, &l)| l == 0 && s as f64 >= t)
        .count();
    assert_eq!(benign_alerts, 2);
    // 0.25 allows 2.5, i.e. still 2; 0 allows none (just above the highest, 1.0 → capped at
    // 1.0); 1 allows all (threshold 0).
    assert_eq!(ThresholdRule::Fpr(0.25).choose(&scores, &labels), t);
    assert_eq!(ThresholdRule::Fpr(0.0).choose(&scores, &labels), 1.0);
    assert_eq!(ThresholdRule::Fpr(1.0).choose(&scores, &labels), 0.0);
    // Ties: benign scores [0.5, 0.5, 0.5, 0.2] with a 50% budget: any threshold at or below
    // 0.5 lets three alert, so the threshold is just above 0.5 and none of them alert.
    let tied = [0.5f32, 0.5, 0.5, 0.2];
    let t = ThresholdRule::Fpr(0.5).choose(&tied, &[0, 0, 0, 0]);
    assert_eq!(t, 0.5f32.next_up() as f64);
    // Unlabelled validation (no benign label): the budget applies to every row.
    assert_eq!(
        ThresholdRule::Fpr(0.5).choose(&[0.1, 0.2, 0.3, 0.4], &[1, 1, 1, 1]),
        0.2f32.next_up() as f64
    );
    assert_eq!(
        "fpr:0.01".parse::<ThresholdRule>().unwrap(),
        ThresholdRule::Fpr(0.01)
    );
    assert_eq!(ThresholdRule::Fpr(0.01).to_string(), "fpr:0.01");
    assert!("fpr:2".parse::<ThresholdRule>().is_err());
    assert!("fpr:".parse::<ThresholdRule>().is_err());
}

#[test]
fn per_million_budget_is_the_same_budget_counted_per_million() {
    // 2,000 benign scores i/2000 and one positive: 1,000 per million allows ⌊0.001 · 2000⌋ = 2
    // benign alerts, so the threshold sits just above the third highest, 1998/2000.
    let mut scores: Vec<f32> = (1..=2000).map(|i| i as f32 / 2000.0).collect();
    let mut labels = vec![0u8; 2000];
    scores.push(0.5);
    labels.push(1);
    let t = ThresholdRule::PerMillion(1000.0).choose(&scores, &labels);
    assert_eq!(t, (1998.0f32 / 2000.0).next_up() as f64);
    assert_eq!(t, ThresholdRule::Fpr(0.001).choose(&scores, &labels));
    assert_eq!(
        "per-million:250".parse::<ThresholdRule>().unwrap(),
        ThresholdRule::PerMillion(250.0)
    );
    assert_eq!(
        ThresholdRule::PerMillion(250.0).to_string(),
        "per-million:250"
    );
    assert!("per-million:2000000".parse::<ThresholdRule>().is_err());
    assert!("per-million:-1".parse::<ThresholdRule>().is_err());
    assert!(ThresholdRule::PerMillion(1.0).is_alert_budget());
    assert!(!ThresholdRule::MaxF1.is_alert_budget());
}

#[test]
fn default_rules_by_kind_and_labels() {
    use beth_detect::evaluation::DEFAULT_ALERT_BUDGET;
    // The supervised network with labels: max-F1; label-free kinds, or no labels: a budget.
    assert_eq!(
        ThresholdRule::default_for(false, true),
        ThresholdRule::MaxF1
    );
    assert_eq!(ThresholdRule::default_for(true, true), DEFAULT_ALERT_BUDGET);
    assert_eq!(
        ThresholdRule::default_for(true, false),
        DEFAULT_ALERT_BUDGET
    );
    assert!(DEFAULT_ALERT_BUDGET.is_alert_budget());
}

#[test]
fn unusual_alert_rates_by_hand() {
    use beth_detect::evaluation::AlertRate;
    // Benign rows only: of the five labelled rows, the three benign ones count; two of them
    // are at or above 0.5.
    let rate = AlertRate::of(&[0.9, 0.6, 0.1, 0.7, 0.2], &[1, 0, 0, 0, 1], 0.5);
    assert_eq!(
        rate,
        AlertRate {
            events: 3,
            alerts: 2
        }
    );
    // Unlabelled: every row.
    assert_eq!(
        AlertRate::of(&[0.9, 0.6, 0.1], &[], 0.5),
        AlertRate {
            events: 3,
            alerts: 2
        }
    );
    // Set at 10 alerts in 10,000 events (0.1%): 1% of 1,000 events is exactly 10× that.
    let set = AlertRate {
        events: 10_000,
        alerts: 10,
    };
    assert_eq!(set.unusual(1_000, 10), Some(10.0));
    assert_eq!(set.unusual(1_000, 9), None);
    // Fewer than 1,000 events are never judged, however many alert.
    assert_eq!(set.unusual(999, 999), None);
    // No benign row alerted where it was set: the yardstick counts one, 1 in 10,000.
    let none = AlertRate {
        events: 10_000,
        alerts: 0,
    };
    assert_eq!(none.unusual(2_000, 2), Some(10.0));
    assert_eq!(none.unusual(2_000, 1), None);
}
