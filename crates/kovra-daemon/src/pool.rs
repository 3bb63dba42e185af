//! Threads kept for reuse: a run needs a few (its output relays, its control reader, the
//! terminal's input pump), each blocking on its own descriptor for the run's life, and
//! starting them anew for every run was a tenth of the daemon's work for a short one.
//!
//! Each job still gets a thread of its own for as long as it runs (no job waits behind
//! another, so no run's relay can stall another's), and a job runs exactly as it would on
//! a fresh thread. Only the starting is shared: a finished thread waits a while for the
//! next job, and exits when none comes.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long an idle thread waits for a job before it exits.
const IDLE: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads waiting for a job (and not yet woken).
    idle: usize,
    /// Threads started, for the tests.
    started: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

impl Pool {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Run `job` on a thread of its own: an idle one if there is one, else a new one. When no
/// thread can be started (a process or memory limit) the job is dropped and the error
/// returned, so the caller decides what that costs (`std::thread::spawn` would panic).
pub fn spawn(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let pool = pool();
    let mut s = pool.state();
    if s.idle > s.queue.len() {
        s.queue.push_back(Box::new(job));
        pool.wake.notify_one();
        return Ok(());
    }
    s.started += 1;
    drop(s);
    let started = std::thread::Builder::new()
        .name("kovra-pooled".into())
        .spawn(move || {
            job();
            work();
        });
    if started.is_err() {
        pool.state().started -= 1;
    }
    started.map(drop)
}

/// A pooled thread: take jobs until none comes for `IDLE`.
fn work() {
    let pool = pool();
    let mut s = pool.state();
    loop {
        if let Some(job) = s.queue.pop_front() {
            drop(s);
            job();
            s = pool.state();
            continue;
        }
        s.idle += 1;
        let (guard, waited) = pool
            .wake
            .wait_timeout(s, IDLE)
            .unwrap_or_else(|p| p.into_inner());
        s = guard;
        s.idle -= 1;
        if waited.timed_out() && s.queue.is_empty() {
            return;
        }
    }
}

/// Threads started so far.
pub fn started() -> usize {
    pool().state().started
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_at_once_side_by_side_and_threads_are_reused() {
        // Two jobs that each wait for the other: they must run at the same time.
        let (a_tx, a_rx) = mpsc::channel();
        let (b_tx, b_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let d1 = done_tx.clone();
        let _ = spawn(move || {
            a_tx.send(()).unwrap();
            b_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            d1.send(()).unwrap();
        });
        let _ = spawn(move || {
            b_tx.send(()).unwrap();
            a_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            done_tx.send(()).unwrap();
        });
        for _ in 0..2 {
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        // A job given while a thread is idle starts no thread.
        let idle_again = || {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while pool().state().idle < 2 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        idle_again();
        let before = started();
        for _ in 0..10 {
            let (tx, rx) = mpsc::channel();
            spawn(move || tx.send(()).unwrap()).unwrap();
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
            idle_again();
        }
        assert_eq!(started(), before);
    }
}
