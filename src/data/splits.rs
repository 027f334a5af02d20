//! `BethSplits`: the training, validation and test files of a directory, found by name, with
//! validation carved out of the training file when the directory has none.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dataset::BethDataset;
use super::rng::Rng;
use super::schema::Label;
use crate::error::{Error, Result};

/// The three splits of BETH (or of its DataCamp projection).
#[derive(Debug, Clone)]
pub struct BethSplits {
    /// The training split: the only one features are fitted on.
    pub train: BethDataset,
    /// The validation split.
    pub validation: BethDataset,
    /// The test split (the only one with the attack).
    pub test: BethDataset,
    /// How the validation split was carved out of the training file, when the directory had
    /// no validation file; `None` when it came from a file of its own.
    pub carved: Option<CarvedValidation>,
}

/// The file names of Kaggle's raw BETH splits.
pub const KAGGLE_SPLIT_NAMES: [&str; 3] = [
    "labelled_training_data.csv",
    "labelled_validation_data.csv",
    "labelled_testing_data.csv",
];
/// The file names of DataCamp's projection.
pub const DATACAMP_SPLIT_NAMES: [&str; 3] = [
    "labelled_train.csv",
    "labelled_validation.csv",
    "labelled_test.csv",
];

/// How to carve a validation split out of the training file when a directory has none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CarveOptions {
    /// Share of the training file's rows (of each class) moved to validation, in (0, 1).
    pub fraction: f64,
    /// Seed of the draw (the training seed, so one `--seed` reproduces a whole run).
    pub seed: u64,
    /// The label the draw is stratified by (its rate is kept in both parts).
    pub label: Label,
}

impl Default for CarveOptions {
    fn default() -> Self {
        CarveOptions {
            fraction: 0.2,
            seed: 42,
            label: Label::Sus,
        }
    }
}

impl CarveOptions {
    /// Checks the fraction once.
    pub fn validate(&self) -> Result<()> {
        if !(self.fraction > 0.0 && self.fraction < 1.0) {
            return Err(Error::InvalidConfig {
                name: "validation fraction",
                expected: "a number between 0 and 1 (exclusive)",
                found: self.fraction.to_string(),
            });
        }
        Ok(())
    }
}

/// A record of a carved validation split: enough to carve the same rows again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarvedValidation {
    /// The training file it was carved from.
    pub from: PathBuf,
    /// The options it was carved with.
    pub options: CarveOptions,
    /// Rows of the training file before carving.
    pub source_rows: u64,
    /// Rows moved to validation.
    pub validation_rows: u64,
    /// Positives (of `options.label`) among them.
    pub validation_positives: u64,
}

/// `2500 of 12500 rows (55 `sus` positives) carved out of FILE (stratified by `sus`, seed 1,
/// fraction 0.2)`: what `train`, `eval` and the examples tell the user.
impl std::fmt::Display for CarvedValidation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} rows ({} `{}` positives) carved out of {} (stratified by `{}`, seed {}, fraction {})",
            self.validation_rows,
            self.source_rows,
            self.validation_positives,
            self.options.label,
            self.from.display(),
            self.options.label,
            self.options.seed,
            self.options.fraction
        )
    }
}

/// Which split a file in a directory holds, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Train,
    Validation,
    Test,
}

/// The split a file name announces: a word `train`/`training`, `validation`/`valid`/`val` or
/// `test`/`testing` among the parts of the name split at `_`, `-` and `.` — so the Kaggle and
/// DataCamp names and the names people give copies (`train.csv`, `labelled_test_head7500.csv`)
/// are all found; per-host logs (`labelled_2021may-ip-….csv`) are not splits.
fn role_of(name: &str) -> Option<Role> {
    let lower = name.to_ascii_lowercase();
    let stem = ["csv", "jsonl", "json"]
        .iter()
        .find_map(|ext| lower.strip_suffix(&format!(".{ext}")))?;
    let mut role = None;
    for word in stem.split(['_', '-', '.']) {
        let found = match word {
            "train" | "training" => Role::Train,
            "validation" | "valid" | "val" => Role::Validation,
            "test" | "testing" => Role::Test,
            _ => continue,
        };
        if role.is_some_and(|r| r != found) {
            return None; // `train_test.csv`: no single role
        }
        role = Some(found);
    }
    role
}

impl BethSplits {
    /// Finds and loads the splits in `dir` (see [`open_dir_with`](Self::open_dir_with));
    /// a missing validation file is carved with the default [`CarveOptions`] (20%, seed 42,
    /// stratified by `sus`).
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Self> {
        BethSplits::open_dir_with(dir, &CarveOptions::default())
    }

    /// Finds and loads the splits in `dir`.
    ///
    /// Files are recognised by name: the Kaggle names (`labelled_training_data.csv`, …), the
    /// DataCamp names (`labelled_train.csv`, …) or any `.csv`/`.jsonl` name holding the word
    /// `train`/`training`, `validation`/`valid`/`val` or `test`/`testing`. A training and a
    /// test file are required. Without a validation file, `carve` decides which training rows
    /// become validation ([`BethSplits::carved`] records it).
    ///
    /// ```
    /// use beth_detect::data::{BethSplits, CarveOptions, Label};
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/beth/njeriw_DataCamp");
    /// let carve = CarveOptions { fraction: 0.2, seed: 1, label: Label::Sus };
    /// let splits = BethSplits::open_dir_with(dir, &carve)?;
    /// assert_eq!((splits.train.len(), splits.validation.len()), (10_000, 2_500));
    /// assert_eq!(splits.validation.positives(), 55); // 20% of the 273 positives, rounded
    /// # Ok::<(), beth_detect::Error>(())
    /// ```
    pub fn open_dir_with(dir: impl AsRef<Path>, carve: &CarveOptions) -> Result<Self> {
        let dir = dir.as_ref();
        carve.validate()?;
        let entries = std::fs::read_dir(dir).map_err(|e| Error::Splits {
            path: dir.to_path_buf(),
            message: format!("expected a directory holding the BETH split files: {e}"),
        })?;
        let mut found: [Vec<PathBuf>; 3] = Default::default();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let Some(role) = path.file_name().and_then(|n| n.to_str()).and_then(role_of) else {
                continue;
            };
            found[role as usize].push(path);
        }
        let [train, validation, test] = found.map(|mut paths| {
            paths.sort();
            paths
        });
        let pick = |paths: Vec<PathBuf>, what: &str| -> Result<Option<PathBuf>> {
            match paths.len() {
                0 => Ok(None),
                1 => Ok(paths.into_iter().next()),
                _ => {
                    // Both the Kaggle and the DataCamp set in one directory: Kaggle's wins, as
                    // it always has.
                    for canonical in [KAGGLE_SPLIT_NAMES, DATACAMP_SPLIT_NAMES] {
                        if let Some(p) = paths.iter().find(|p| {
                            p.file_name()
                                .is_some_and(|n| canonical.iter().any(|c| n == *c))
                        }) {
                            return Ok(Some(p.clone()));
                        }
                    }
                    Err(Error::Splits {
                        path: dir.to_path_buf(),
                        message: format!(
                            "expected one {what} file, found {}: {}",
                            paths.len(),
                            paths
                                .iter()
                                .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
                }
            }
        };
        let validation = pick(validation, "validation")?;
        let (train, test) = match (pick(train, "training")?, pick(test, "test")?) {
            (Some(train), Some(test)) => (train, test),
            (train, test) => {
                let missing = match (train, test) {
                    (None, None) => "neither a training nor a test file",
                    (None, _) => "no training file",
                    _ => "no test file",
                };
                return Err(Error::Splits {
                    path: dir.to_path_buf(),
                    message: format!(
                        "expected a training and a test file (the Kaggle names {}, the DataCamp names {}, or names holding the word `train`/`training` and `test`/`testing`), found {missing}",
                        KAGGLE_SPLIT_NAMES.join(", "),
                        DATACAMP_SPLIT_NAMES.join(", "),
                    ),
                });
            }
        };
        let train = BethDataset::open(train)?;
        let test = BethDataset::open(test)?;
        match validation {
            Some(validation) => Ok(BethSplits {
                train,
                validation: BethDataset::open(validation)?,
                test,
                carved: None,
            }),
            None => {
                let (train, validation, carved) = carve_validation(&train, carve)?;
                Ok(BethSplits {
                    train,
                    validation,
                    test,
                    carved: Some(carved),
                })
            }
        }
    }

    /// A single file as splits: validation carved out of it as `carve` says, and no test
    /// split (`test` is empty). For training on one file — the label-free kinds on a Tracee
    /// log without labels, say.
    pub fn open_file_with(path: impl AsRef<Path>, carve: &CarveOptions) -> Result<Self> {
        carve.validate()?;
        let data = BethDataset::open(path)?;
        let (train, validation, carved) = carve_validation(&data, carve)?;
        Ok(BethSplits {
            test: data.select(&[]),
            train,
            validation,
            carved: Some(carved),
        })
    }

    /// Chooses the label of all three splits.
    pub fn with_label(self, label: Label) -> Result<Self> {
        Ok(BethSplits {
            train: self.train.with_label(label)?,
            validation: self.validation.with_label(label)?,
            test: self.test.with_label(label)?,
            carved: self.carved,
        })
    }
}

/// Splits `train` into (training rows, validation rows): `fraction` of each class of
/// `options.label` (rounded to the nearest row) goes to validation, drawn with `options.seed`;
/// both parts keep the file's row order. A file without that label is split without
/// stratification.
pub fn carve_validation(
    train: &BethDataset,
    options: &CarveOptions,
) -> Result<(BethDataset, BethDataset, CarvedValidation)> {
    options.validate()?;
    let targets = train.label_column(options.label);
    let mut classes: [Vec<usize>; 2] = Default::default();
    for i in 0..train.len() {
        classes[targets.get(i).copied().unwrap_or(0) as usize].push(i);
    }
    let mut rng = Rng::new(options.seed ^ 0xCA4E_0000_0000_0000);
    let mut is_validation = vec![false; train.len()];
    for class in &mut classes {
        rng.shuffle(class);
        let take = (class.len() as f64 * options.fraction).round() as usize;
        for &i in &class[..take] {
            is_validation[i] = true;
        }
    }
    let (valid_rows, train_rows): (Vec<usize>, Vec<usize>) =
        (0..train.len()).partition(|&i| is_validation[i]);
    if valid_rows.is_empty() || train_rows.is_empty() {
        return Err(Error::Splits {
            path: train.path().to_path_buf(),
            message: format!(
                "cannot carve a validation split of {} from {} rows: one part would be empty",
                options.fraction,
                train.len()
            ),
        });
    }
    let validation = train.select(&valid_rows);
    let positives = valid_rows
        .iter()
        .filter(|&&i| targets.get(i) == Some(&1))
        .count();
    let record = CarvedValidation {
        from: train.path().to_path_buf(),
        options: *options,
        source_rows: train.len() as u64,
        validation_rows: valid_rows.len() as u64,
        validation_positives: positives as u64,
    };
    Ok((train.select(&train_rows), validation, record))
}
