//! What operators see: log lines written in batches, and the one access-log
//! line per call (a layer of the server's stack).

pub mod access_log;
pub mod log_writer;
