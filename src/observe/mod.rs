//! What operators see: log lines written in batches, the one access-log line
//! per call (a layer of the server's stack), Prometheus metrics, and the W3C
//! trace context of each call.

pub mod access_log;
pub mod log_writer;
pub mod metrics;
pub mod span_export;
pub mod trace_context;
