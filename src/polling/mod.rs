//! What attempt pollers and event tails share: one producer per key, one
//! polling budget per Seam credential, one backoff.

pub mod backoff;
pub mod budget;
pub mod shared_producers;
