//! The audit trail (`--audit-log`): one JSON object per line for every command
//! decision, written and flushed to disk before the command is sent (no
//! unaudited command: if it cannot be written, nothing is sent), then what
//! became of the command, and every denied read. `record` is the line,
//! `trail` the file.

pub mod record;
pub mod trail;
