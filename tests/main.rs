//! The integration suite, built as one test binary: every file beside this
//! one is a module of it. One binary links the gateway once instead of once
//! per file, which keeps a fresh machine's build inside its disk (29 separate
//! binaries took 9 GB of the 15 GB a fresh CI build wrote) and its time.
//! `suite_layout` checks that no test file is left out of this list.

mod support;

mod action_attempts;
mod audit;
mod binary;
mod complete_lists;
mod connections;
mod credentials;
mod deploy;
mod devices;
mod errors;
mod events;
mod examples;
mod jwt_identity;
mod late_commands;
mod locks;
mod malformed_requests;
mod monitoring;
mod mutual_tls;
mod observability;
mod operator_safety;
mod policy;
mod polling_budget;
mod readme;
mod reflection;
mod request_limits;
mod streaming;
mod suite_layout;
mod trace_context;
mod trace_export;
mod upstream_faults;
mod watch_events;
mod webhooks;
