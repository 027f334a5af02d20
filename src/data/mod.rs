//! Events: the BETH formats, streaming readers, the in-memory dataset, the synthetic
//! generator, and the facts of the data (the host mount namespace). Nothing here imports
//! from the layers above it.

mod dataset;
mod event;
mod reader;
mod record;
mod rng;
pub(crate) use rng::{Rng, split_mix64_at};
mod schema;
mod splits;
mod tracee;
pub(crate) use tracee::{
    TraceeFields, array_elements, decode_tracee_fields, object_members, plain_string_bytes,
};
pub mod synth;

pub use dataset::{BethDataset, BethItem, ColumnSummary, EventColumns};
pub use reader::{BethEvent, EventReader, decode_tracee_record};
pub(crate) use reader::{decode_tracee_record_needing, tracee_error};
pub use record::MAX_RECORD_BYTES;
pub use schema::{Column, CsvLayout, HOST_MOUNT_NAMESPACE, Label, Schema};
pub use splits::{
    BethSplits, CarveOptions, CarvedValidation, DATACAMP_SPLIT_NAMES, KAGGLE_SPLIT_NAMES,
    carve_validation,
};

/// Splits one complete record (no terminator needed) into field ranges; false if malformed.
pub(crate) fn split_fields(record: &[u8], fields: &mut Vec<std::ops::Range<usize>>) -> bool {
    matches!(
        record::split_record(record, true, fields),
        record::Split::Record { .. }
    )
}
