//! The BETH file formats: their columns, and detection from a header.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// A column of a BETH file, named as in the files' headers (Tracee's field names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Column {
    Timestamp,
    ProcessId,
    ThreadId,
    ParentProcessId,
    UserId,
    MountNamespace,
    ProcessName,
    HostName,
    EventId,
    EventName,
    StackAddresses,
    ArgsNum,
    ReturnValue,
    Args,
    Sus,
    Evil,
    /// DataCamp's name for `sus`.
    SusLabel,
}

impl Column {
    /// The column's name in a header.
    pub const fn name(self) -> &'static str {
        match self {
            Column::Timestamp => "timestamp",
            Column::ProcessId => "processId",
            Column::ThreadId => "threadId",
            Column::ParentProcessId => "parentProcessId",
            Column::UserId => "userId",
            Column::MountNamespace => "mountNamespace",
            Column::ProcessName => "processName",
            Column::HostName => "hostName",
            Column::EventId => "eventId",
            Column::EventName => "eventName",
            Column::StackAddresses => "stackAddresses",
            Column::ArgsNum => "argsNum",
            Column::ReturnValue => "returnValue",
            Column::Args => "args",
            Column::Sus => "sus",
            Column::Evil => "evil",
            Column::SusLabel => "sus_label",
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

use Column::*;

const RAW: &[Column] = &[
    Timestamp,
    ProcessId,
    ThreadId,
    ParentProcessId,
    UserId,
    MountNamespace,
    ProcessName,
    HostName,
    EventId,
    EventName,
    StackAddresses,
    ArgsNum,
    ReturnValue,
    Args,
    Sus,
    Evil,
];
const DATACAMP: &[Column] = &[
    ProcessId,
    ThreadId,
    ParentProcessId,
    UserId,
    MountNamespace,
    ArgsNum,
    ReturnValue,
    SusLabel,
];
const HOST: &[Column] = &[
    Timestamp,
    ProcessId,
    ParentProcessId,
    UserId,
    ProcessName,
    HostName,
    EventId,
    EventName,
    ArgsNum,
    ReturnValue,
    Args,
    Sus,
    Evil,
];
/// The Tracee fields the reader uses (Tracee prints many more; they are ignored).
const TRACEE: &[Column] = &[
    Timestamp,
    ProcessId,
    ThreadId,
    ParentProcessId,
    UserId,
    MountNamespace,
    ProcessName,
    HostName,
    EventId,
    EventName,
    StackAddresses,
    ArgsNum,
    ReturnValue,
    Args,
];

/// The formats BETH events come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// The raw BETH split CSVs (`labelled_training_data.csv`, …): 16 columns.
    Raw,
    /// DataCamp's projection: 7 numeric columns and `sus_label`.
    #[serde(rename = "datacamp")]
    DataCamp,
    /// BETH's per-host process logs (`labelled_2021may-*.csv`): 13 columns, no `threadId`,
    /// `mountNamespace` or `stackAddresses`.
    Host,
    /// Tracee's classic JSON lines (`tracee --output json`); no labels.
    Tracee,
}

impl Schema {
    /// All schemas, in detection order.
    pub const ALL: [Schema; 4] = [Schema::Raw, Schema::DataCamp, Schema::Host, Schema::Tracee];

    /// The short name used in messages, JSON and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Schema::Raw => "raw",
            Schema::DataCamp => "datacamp",
            Schema::Host => "host",
            Schema::Tracee => "tracee",
        }
    }

    /// The columns of this schema, in the order the real files have them.
    pub const fn columns(self) -> &'static [Column] {
        match self {
            Schema::Raw => RAW,
            Schema::DataCamp => DATACAMP,
            Schema::Host => HOST,
            Schema::Tracee => TRACEE,
        }
    }

    /// Whether files of this schema have the column.
    pub fn has(self, column: Column) -> bool {
        // `sus_label` is DataCamp's spelling of `sus`.
        let column = match (self, column) {
            (Schema::DataCamp, Sus) => SusLabel,
            _ => column,
        };
        self.columns().contains(&column)
    }

    /// Whether the schema carries the given label.
    pub fn has_label(self, label: Label) -> bool {
        match label {
            Label::Sus => self.has(Sus),
            Label::Evil => self.has(Evil),
        }
    }

    /// Detects a CSV schema from header fields (already split, BOM removed).
    ///
    /// The columns may come in any order. Every column of the schema must be present exactly
    /// once, except its label columns (`sus`/`sus_label`, `evil`), which a user's own logs do
    /// not have; other columns (a pandas index, a note an analyst added) are allowed, listed in
    /// [`CsvLayout::extra_columns`] and ignored by everything but `score`, which passes them
    /// through. When several schemas fit, the one leaving the fewest extra columns wins (a raw
    /// header also holds every host-log column). When none fits, the error lists, for the
    /// closest schema, the columns that are missing and those it does not know.
    pub fn detect_csv(path: &Path, header: &[&[u8]]) -> Result<CsvLayout> {
        let known = |h: &[u8]| {
            Schema::ALL
                .iter()
                .any(|s| s.columns().iter().any(|c| c.name().as_bytes() == h))
        };
        for (i, a) in header.iter().enumerate() {
            // A repeated column the schemas use is ambiguous; a repeated extra one is ignored
            // like any other extra column.
            if known(a) && header[..i].contains(a) {
                return Err(Error::Record {
                    position: crate::error::Position {
                        path: path.to_path_buf(),
                        line: 1,
                        byte: 0,
                    },
                    expected: "a header with distinct column names".into(),
                    found: format!("column `{}` twice", String::from_utf8_lossy(a).into_owned()),
                });
            }
        }
        let mut fitting: Option<(Schema, usize)> = None;
        let mut closest: Option<(Schema, Vec<String>, Vec<String>)> = None;
        for schema in [Schema::Raw, Schema::DataCamp, Schema::Host] {
            let missing: Vec<String> = schema
                .columns()
                .iter()
                .filter(|c| !matches!(c, Sus | Evil | SusLabel))
                .filter(|c| !header.contains(&c.name().as_bytes()))
                .map(|c| c.name().to_string())
                .collect();
            let unexpected: Vec<String> = header
                .iter()
                .filter(|h| !schema.columns().iter().any(|c| c.name().as_bytes() == **h))
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .collect();
            if missing.is_empty() {
                if fitting.is_none_or(|(_, extra)| unexpected.len() < extra) {
                    fitting = Some((schema, unexpected.len()));
                }
                continue;
            }
            let score = missing.len() + unexpected.len();
            if closest
                .as_ref()
                .is_none_or(|(_, m, u)| score < m.len() + u.len())
            {
                closest = Some((schema, missing, unexpected));
            }
        }
        if let Some((schema, _)) = fitting {
            let mut index = [usize::MAX; COLUMN_COUNT];
            let mut extra = Vec::new();
            for (i, h) in header.iter().enumerate() {
                match schema.columns().iter().find(|c| c.name().as_bytes() == *h) {
                    Some(column) => index[*column as usize] = i,
                    None => extra.push(String::from_utf8_lossy(h).into_owned()),
                }
            }
            return Ok(CsvLayout {
                schema,
                index,
                fields: header.len(),
                extra,
            });
        }
        let (closest, missing, unexpected) = closest.expect("three schemas were tried");
        Err(Error::UnknownHeader {
            path: path.to_path_buf(),
            closest: closest.name(),
            missing,
            unexpected,
        })
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) const COLUMN_COUNT: usize = 17;

/// Where each column sits in a CSV record of a detected schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvLayout {
    /// The detected schema.
    pub schema: Schema,
    /// Field index of each [`Column`] (indexed by `Column as usize`), `usize::MAX` if absent.
    pub(crate) index: [usize; COLUMN_COUNT],
    /// Number of fields per record.
    pub fields: usize,
    /// Names of the header's columns that the schema does not use, in file order.
    pub(crate) extra: Vec<String>,
}

impl CsvLayout {
    /// The field index of a column, if the schema has it.
    pub fn field(&self, column: Column) -> Option<usize> {
        let i = self.index[column as usize];
        (i != usize::MAX).then_some(i)
    }

    /// The header's columns the schema does not use (read past, kept by `score`'s output).
    pub fn extra_columns(&self) -> &[String] {
        &self.extra
    }
}

/// Which label a model learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// `sus` (`sus_label` in DataCamp files): the event looks suspicious. The default.
    #[default]
    Sus,
    /// `evil`: the event belongs to the attack (raw and host files only).
    Evil,
}

impl Label {
    /// The label's column name.
    pub const fn name(self) -> &'static str {
        match self {
            Label::Sus => "sus",
            Label::Evil => "evil",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Label {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sus" => Ok(Label::Sus),
            "evil" => Ok(Label::Evil),
            other => Err(Error::InvalidConfig {
                name: "label",
                expected: "`sus` or `evil`",
                found: other.to_string(),
            }),
        }
    }
}

/// The host mount namespace, where most of BETH's processes live (`mountNamespace`
/// 4026531840): a process outside it runs in a container or a sandbox.
pub const HOST_MOUNT_NAMESPACE: u64 = 4026531840;
