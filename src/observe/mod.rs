//! What operators see: log lines written in batches, the one access-log line
//! per call (a layer of the server's stack), and Prometheus metrics.

pub mod access_log;
pub mod log_writer;
pub mod metrics;
