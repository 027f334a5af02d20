//! The crate's one error type.
//!
//! Every error that comes from reading a file names the file; every error that comes from a
//! record also names its 1-based line (written `line N`), the column when there is one, what was
//! expected and what was found. Nothing in the crate panics on bad input.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in an input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file (or `<stdin>`, or the name the caller gave the stream).
    pub path: PathBuf,
    /// 1-based line number of the start of the record (the CSV header is line 1).
    pub line: u64,
    /// 0-based byte offset of the start of the record.
    pub byte: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}", self.path.display(), self.line)
    }
}

/// Everything that can go wrong in `beth_detect`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plot could not be drawn or encoded.
    #[error("{}: cannot draw the plot: {message}", path.display())]
    Plot {
        /// The PNG file being written.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A field of a record could not be parsed.
    #[error("{position}, column `{column}`: expected {expected}, found {found}")]
    Field {
        /// Where the record starts.
        position: Position,
        /// The column's name.
        column: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
        /// The offending text, quoted and shortened.
        found: String,
    },

    /// A record is malformed as a whole (wrong field count, broken quoting, bad JSON, …).
    #[error("{position}: expected {expected}, found {found}")]
    Record {
        /// Where the record starts.
        position: Position,
        /// What a valid record looks like.
        expected: String,
        /// What was there instead.
        found: String,
    },

    /// The header (or first JSON line) matches none of the known BETH schemas.
    #[error(
        "{}: line 1: unknown header: closest schema is {closest}{}{}",
        path.display(),
        if missing.is_empty() { String::new() } else { format!(", missing columns [{}]", missing.join(", ")) },
        if unexpected.is_empty() { String::new() } else { format!(", unexpected columns [{}]", unexpected.join(", ")) }
    )]
    UnknownHeader {
        /// The file.
        path: PathBuf,
        /// The schema the header came closest to.
        closest: &'static str,
        /// Columns that schema needs and the header lacks.
        missing: Vec<String>,
        /// Columns in the header that schema does not have.
        unexpected: Vec<String>,
    },

    /// The input holds no header at all.
    #[error("{}: line 1: expected a BETH CSV header or a Tracee JSON event, found an empty file", path.display())]
    EmptyInput {
        /// The file.
        path: PathBuf,
    },

    /// The input has a header but no events, where events are needed.
    #[error("{}: line {line}: expected an event, found the end of the input", path.display())]
    NoRecords {
        /// The file.
        path: PathBuf,
        /// The line after the header.
        line: u64,
    },

    /// A feature set or label needs a column this input's schema does not have.
    #[error("{}: {what} needs column `{column}`, which {schema} files do not have", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The feature set or label that needs it (e.g. `feature set paper`).
        what: String,
        /// The missing column.
        column: &'static str,
        /// The input's schema.
        schema: &'static str,
    },

    /// A directory does not hold a recognisable set of BETH split files.
    #[error("{}: {message}", path.display())]
    Splits {
        /// The directory.
        path: PathBuf,
        /// What was looked for and what was found.
        message: String,
    },

    /// A configuration value is out of range; checked once, when the configuration is used.
    #[error("invalid {name}: expected {expected}, found {found}")]
    InvalidConfig {
        /// The knob.
        name: &'static str,
        /// The valid range.
        expected: &'static str,
        /// The given value.
        found: String,
    },

    /// A saved detector (or other artifact) is not what it should be.
    #[error("{}: {message}", path.display())]
    Artifact {
        /// The file that is wrong.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The backend asked for is not compiled into this build.
    #[error(
        "the `{backend}` backend is not in this build: rebuild with the cargo feature `{feature}` (e.g. `cargo install beth-detect --features {feature}`)"
    )]
    BackendUnavailable {
        /// The backend asked for.
        backend: &'static str,
        /// The cargo feature that provides it.
        feature: &'static str,
    },

    /// Training could not run or produced nothing usable.
    #[error("training: {0}")]
    Training(String),

    /// The NATS server could not be reached, or JetStream refused an operation. `server` is
    /// the server's address with any user, password or token removed; `message` never holds
    /// them either.
    #[error("NATS {server}: {operation}: {message}")]
    Nats {
        /// The server, without credentials.
        server: String,
        /// What was being done (`connect`, `create stream TRACEE`, `publish`, …).
        operation: String,
        /// Why it failed.
        message: String,
    },

    /// A JSON document (scaler, report) could not be read or written.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True for the I/O error a live source returns when it has no data yet (its read gave
    /// [`std::io::ErrorKind::WouldBlock`]): the reader stays usable; call it again.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// The 1-based line this error points at, when it points at one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Field { position, .. } | Error::Record { position, .. } => Some(position.line),
            Error::UnknownHeader { .. } | Error::EmptyInput { .. } => Some(1),
            Error::NoRecords { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Quotes a byte slice for an error message, shortened so a 100 MB field stays readable.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    if bytes.is_empty() {
        return "an empty field".to_string();
    }
    let shown = &bytes[..bytes.len().min(MAX)];
    let text = String::from_utf8_lossy(shown);
    if bytes.len() > MAX {
        format!("{:?}… ({} bytes)", text, bytes.len())
    } else {
        format!("{text:?}")
    }
}
