//! The event every reader yields: the numeric fields of one BETH record.

use serde::{Deserialize, Serialize};

use super::schema::Column;

/// One kernel event: the numeric fields of a BETH record.
///
/// Columns the input's [`Schema`](super::Schema) lacks are 0 (check with [`Schema::has`](super::Schema::has)); so are labels of
/// unlabelled inputs (Tracee JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BethEvent {
    /// `processId`.
    pub process_id: u32,
    /// `threadId`.
    pub thread_id: u32,
    /// `parentProcessId`.
    pub parent_process_id: u32,
    /// `userId`.
    pub user_id: u32,
    /// `mountNamespace`.
    pub mount_namespace: u64,
    /// `eventId` (the syscall or LSM hook number).
    pub event_id: u32,
    /// `argsNum`.
    pub args_num: u32,
    /// `returnValue`.
    pub return_value: i64,
    /// `sus` (`sus_label`): 0 or 1.
    pub sus: u8,
    /// `evil`: 0 or 1.
    pub evil: u8,
}

impl BethEvent {
    pub(crate) fn set(&mut self, column: Column, value: i64) {
        // Values were range-checked for the column's type when parsed.
        match column {
            Column::ProcessId => self.process_id = value as u32,
            Column::ThreadId => self.thread_id = value as u32,
            Column::ParentProcessId => self.parent_process_id = value as u32,
            Column::UserId => self.user_id = value as u32,
            Column::MountNamespace => self.mount_namespace = value as u64,
            Column::EventId => self.event_id = value as u32,
            Column::ArgsNum => self.args_num = value as u32,
            Column::ReturnValue => self.return_value = value,
            Column::Sus | Column::SusLabel => self.sus = value as u8,
            Column::Evil => self.evil = value as u8,
            _ => {}
        }
    }
}
