//! W3C Trace Context (`traceparent`) for every call of the gateway's API: a
//! caller's `traceparent` is honoured (a new trace is started otherwise), the
//! call's trace id is in its log line, and every request to Seam made while
//! serving the call carries a `traceparent` of the same trace.
//!
//! The context travels with the call's future (a task-local set by the access
//! log layer), so that the Seam client needs no parameter for it. Pollers and
//! tails, shared by many calls, run outside any call and start traces of
//! their own.

use std::fmt;

/// The `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";

/// One span's place in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
    /// The span this one was started under; 0 for the first span of a trace.
    pub parent_span_id: u64,
    /// Whether that parent is another process's (the caller's).
    pub parent_is_remote: bool,
    /// Whether this context is another process's (read from `traceparent`).
    remote: bool,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// The caller's context from its `traceparent` value (version 00), or
    /// `None` when absent or malformed (then a new trace starts).
    pub fn parse(traceparent: &str) -> Option<Self> {
        let mut parts = traceparent.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        // All-zero ids are invalid (W3C Trace Context, 3.2.2.3 and 3.2.2.4).
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
            parent_span_id: 0,
            parent_is_remote: false,
            remote: true,
        })
    }

    /// A new trace.
    pub fn new_trace() -> Self {
        Self {
            trace_id: fastrand::u128(1..),
            span_id: fastrand::u64(1..),
            sampled: true,
            parent_span_id: 0,
            parent_is_remote: false,
            remote: false,
        }
    }

    /// The context of a span started under this one (same trace, new span).
    pub fn child(&self) -> Self {
        Self {
            span_id: fastrand::u64(1..),
            parent_span_id: self.span_id,
            parent_is_remote: self.remote,
            remote: false,
            ..*self
        }
    }

    /// The `traceparent` value naming this span.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }

    /// The trace id as log lines and audit records write it.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// Runs `future` with this context as the current one.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// The context of the call being served, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|context| *context).ok()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_round_trips() {
        let context = TraceContext::parse(EXAMPLE).expect("valid");
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(context.sampled);
        assert_eq!(context.traceparent(), EXAMPLE);
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_ne!(child.span_id, context.span_id);
        assert_eq!(child.parent_span_id, context.span_id);
        assert!(child.parent_is_remote, "the caller's span is another process's");
        let grandchild = child.child();
        assert_eq!(grandchild.parent_span_id, child.span_id);
        assert!(!grandchild.parent_is_remote);
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xyz92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_current_context_is_the_scope_s() {
        assert!(TraceContext::current().is_none());
        let context = TraceContext::new_trace();
        let seen = context.scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(context));
    }
}
