//! Where log lines go: standard output, in batches on the runtime's workers.
//!
//! Why: the gateway logs one line per RPC, and one `write` system call per
//! line was 3.5 % of its CPU under load (BENCHMARKS.md). A worker thread of
//! the runtime keeps its lines in a small buffer and writes them at once when
//! the buffer is full or when the worker runs out of work and is about to
//! sleep ([`worker_parking`], the runtime's park hook). So a line is
//! never held while the gateway waits for something: an idle gateway has
//! written every line, a busy one writes them a few kilobytes at a time.
//! Threads that are not workers (`main`, blocking threads) write each line at
//! once.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// The most a worker holds before it writes.
const BATCH_BYTES: usize = 8 * 1024;

thread_local! {
    static BATCHING: Cell<bool> = const { Cell::new(false) };
    static BATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The runtime's park hook: writes this worker's waiting lines, and from now
/// on its lines wait in its batch until it parks again or the batch is full.
/// (Only workers park, so the runtime's blocking threads never batch.)
pub fn worker_parking() {
    BATCHING.with(|batching| batching.set(true));
    flush_this_thread();
}

/// Writes the calling thread's waiting lines, if any. The runtime calls it
/// through [`worker_parking`] and when a worker stops.
pub fn flush_this_thread() {
    BATCH.with(|batch| {
        let Ok(mut batch) = batch.try_borrow_mut() else {
            return;
        };
        if !batch.is_empty() {
            // A log line that cannot be written has nowhere else to go.
            let _ = io::stdout().lock().write_all(&batch);
            batch.clear();
        }
    });
}

/// The `tracing_subscriber` writer: one per log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchedStdout;

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = BatchedStdout;

    fn make_writer(&'a self) -> Self::Writer {
        BatchedStdout
    }
}

impl Write for BatchedStdout {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if !BATCHING.with(Cell::get) {
            return io::stdout().lock().write(line);
        }
        let full = BATCH.with(|batch| match batch.try_borrow_mut() {
            Ok(mut batch) => {
                batch.extend_from_slice(line);
                Some(batch.len() >= BATCH_BYTES)
            }
            // Only if a line is logged while the batch is being written.
            Err(_) => None,
        });
        match full {
            Some(true) => flush_this_thread(),
            Some(false) => {}
            None => return io::stdout().lock().write(line),
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting() -> usize {
        BATCH.with(|batch| batch.borrow().len())
    }

    #[test]
    fn a_worker_holds_its_lines_until_it_flushes() {
        std::thread::spawn(|| {
            BATCHING.with(|batching| batching.set(true));
            BatchedStdout.write_all(b"one\n").unwrap();
            BatchedStdout.write_all(b"two\n").unwrap();
            assert_eq!(waiting(), 8);
            flush_this_thread();
            assert_eq!(waiting(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_batch_is_written_at_once() {
        std::thread::spawn(|| {
            BATCHING.with(|batching| batching.set(true));
            let line = [b'x'; 1000];
            for _ in 0..8 {
                BatchedStdout.write_all(&line).unwrap();
            }
            assert_eq!(waiting(), 8000);
            BatchedStdout.write_all(&line).unwrap();
            assert_eq!(waiting(), 0, "past {BATCH_BYTES} bytes the batch is written");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn other_threads_write_each_line_at_once() {
        std::thread::spawn(|| {
            BatchedStdout.write_all(b"direct\n").unwrap();
            assert_eq!(waiting(), 0);
        })
        .join()
        .unwrap();
    }
}
