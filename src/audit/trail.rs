//! The audit file: appended to, one record per line. A decision record is
//! written and flushed to disk (`fdatasync`) before the caller's command may
//! go; the records after it (what became of the command, denied reads) are
//! written in the background, in order. `SIGHUP` reopens the file (log
//! rotation). `-` is standard output (flushed, not synced: a collector reads
//! it). A record that cannot be written counts in
//! `seam_gateway_audit_write_failures_total`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::record::AuditRecord;
use crate::observe::metrics;

/// Where records go.
#[derive(Debug, Clone)]
pub enum AuditTarget {
    File(PathBuf),
    Stdout,
}

impl AuditTarget {
    pub fn parse(text: &str) -> Self {
        if text == "-" {
            AuditTarget::Stdout
        } else {
            AuditTarget::File(PathBuf::from(text))
        }
    }
}

#[derive(Debug)]
pub struct AuditTrail {
    target: AuditTarget,
    /// The open file (`None` for standard output, or after a failed reopen).
    file: Mutex<Option<File>>,
}

impl AuditTrail {
    /// Opens the target for appending; the gateway does not start without it.
    pub fn open(target: AuditTarget) -> Result<Arc<Self>, String> {
        let file = match &target {
            AuditTarget::File(path) => Some(open_for_append(path)?),
            AuditTarget::Stdout => None,
        };
        Ok(Arc::new(Self {
            target,
            file: Mutex::new(file),
        }))
    }

    /// Writes `record` and flushes it to disk before returning; an error
    /// means the record may not be on disk, and the caller must not act.
    pub async fn record_durably(self: &Arc<Self>, record: AuditRecord) -> Result<(), String> {
        let trail = self.clone();
        let written = tokio::task::spawn_blocking(move || trail.write(&record, true)).await;
        let result = written.unwrap_or_else(|e| Err(format!("the audit writer failed: {e}")));
        if let Err(e) = &result {
            metrics::audit_write_failure();
            tracing::error!(error = %e, "cannot write an audit record; the command is not sent");
        }
        result
    }

    /// Writes `record` in the background (a record after the decision).
    pub fn record_later(self: &Arc<Self>, record: AuditRecord) {
        let trail = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn_blocking(move || {
            if let Err(e) = trail.write(&record, false) {
                metrics::audit_write_failure();
                tracing::error!(error = %e, outcome = record.outcome, "cannot write an audit record");
            }
        });
    }

    fn write(&self, record: &AuditRecord, durable: bool) -> Result<(), String> {
        let line = record.line();
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match (&self.target, file.as_mut()) {
            (AuditTarget::Stdout, _) => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(&line)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| e.to_string())
            }
            (AuditTarget::File(path), Some(file)) => file
                .write_all(&line)
                .and_then(|()| if durable { file.sync_data() } else { Ok(()) })
                .map_err(|e| format!("{}: {e}", path.display())),
            (AuditTarget::File(path), None) => Err(format!("{} is not open", path.display())),
        }
    }

    /// Opens the file again (after log rotation moved it away).
    pub fn reopen(&self) {
        let AuditTarget::File(path) = &self.target else {
            return;
        };
        let reopened = open_for_append(path);
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match reopened {
            Ok(new_file) => {
                *file = Some(new_file);
                tracing::info!(audit_log = %path.display(), "audit log reopened");
            }
            Err(e) => {
                // Fail closed: no file, so commands are refused until a
                // reopen succeeds.
                *file = None;
                tracing::error!(error = %e, "cannot reopen the audit log; commands are refused until it opens");
            }
        }
    }

    /// Reopens on every SIGHUP until shutdown.
    pub async fn reopen_on_hangup(
        self: Arc<Self>,
        mut hangups: watch::Receiver<u64>,
        mut stopping: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                changed = hangups.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.reopen();
                }
                _ = stopping.wait_for(|stopping| *stopping) => return,
            }
        }
    }
}

fn open_for_append(path: &PathBuf) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))
}
