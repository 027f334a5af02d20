//! Scoring: events → scores → alerts, in the one way every command and the server share.
//!
//! - [`stream`]: events streamed through a detector and written back with their scores;
//! - [`cpu`]: the one CPU scorer every path computes scores with (no burn);
//! - [`output`] formats: CSV, JSON lines and Falco alerts ([`falco`]), scores written as JSON
//!   one way ([`json`]);
//! - [`explain`]: why an event alerted.
//!
//! Memory stays constant whatever the input size: events are read, featurised, scored and
//! written one batch at a time, and each batch is flushed as soon as it is written. On live
//! input ([`LiveInput`]) a partial batch is scored and flushed the moment the input pauses, so
//! an alert never waits for events that have not happened yet.
//!
//! ```
//! use beth_detect::backend::NdArray;
//! use beth_detect::data::EventReader;
//! use beth_detect::detector::interop::{imported_detector, load_pytorch, load_sklearn_scaler};
//! use beth_detect::scoring::{ScoreOptions, score_stream};
//!
//! // The PyTorch notebook's model and scaler (test fixtures), made into a detector.
//! let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pytorch");
//! let model = load_pytorch::<NdArray>(format!("{fixtures}/model.pt"), &Default::default())?;
//! let scaler = load_sklearn_scaler(format!("{fixtures}/scaler.json"))?;
//! let detector = imported_detector(model, scaler, 0.5, "model.pt".as_ref())?;
//!
//! let events = "processId,threadId,parentProcessId,userId,mountNamespace,argsNum,returnValue,sus_label\n\
//!               382,382,1,101,4026532232,3,15,0\n\
//!               7347,7347,7341,0,4026531840,1,0,1\n";
//! let mut reader = EventReader::new(events.as_bytes(), "events.csv")?;
//! let mut scored = Vec::new();
//! let summary = score_stream(&detector, &mut reader, &mut scored, &ScoreOptions::default())?;
//! assert_eq!(summary.events, 2);
//! let scored = String::from_utf8(scored).unwrap();
//! let lines: Vec<&str> = scored.lines().collect();
//! assert!(lines[0].ends_with("sus_label,score,prediction"));
//! assert!(lines[1].starts_with("382,382,1,101,4026532232,3,15,0,"));
//! # Ok::<(), beth_detect::Error>(())
//! ```

pub mod cpu;
pub mod explain;
pub mod falco;
pub mod json;
pub mod output;
pub mod stream;

pub use cpu::CpuScorer;
pub use output::OutputFormat;
pub use stream::{
    BadLine, BodyScore, BodyScorer, LineAlert, LinesScore, LiveInput, ScoreOptions, ScoreSummary,
    score_stream,
};
