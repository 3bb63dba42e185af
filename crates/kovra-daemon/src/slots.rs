//! Connection slots: a cap in all and per peer process, with a reserve for callers at a
//! terminal. Each connection costs a thread and descriptors; without a cap, a flood of idle
//! connections (an agent's, or a bug's) exhausts them and the human's CLI hangs. With one,
//! a flood is refused at once with `too-many-connections`, and the last slots stay for a
//! caller with a controlling terminal (the human's `kovra`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections one process may hold at once (a CLI needs one or two; an MCP server one per
/// session plus one per running `run`).
pub const MAX_PER_PEER: usize = 64;
/// Of `MAX_CONNECTIONS`, kept for callers at a terminal.
pub const RESERVED_FOR_TERMINALS: usize = 16;
/// Connections served between two returns of freed memory to the system.
const TRIM_EVERY: usize = 64;

#[derive(Default)]
struct State {
    total: usize,
    per_pid: HashMap<u32, usize>,
    served_since_trim: usize,
}

/// The daemon's table of connections in use.
#[derive(Default)]
pub struct Slots {
    state: Mutex<State>,
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerPeer,
    Full,
}

impl Refusal {
    pub fn message(self) -> String {
        match self {
            Refusal::PerPeer => format!(
                "this process already holds {MAX_PER_PEER} connections to the daemon, its limit"
            ),
            Refusal::Full => format!(
                "the daemon is serving {MAX_CONNECTIONS} connections, its limit (the last {RESERVED_FOR_TERMINALS} are kept for a terminal)"
            ),
        }
    }
}

/// One connection's hold on a slot, released when the connection ends.
pub struct Slot {
    slots: Arc<Slots>,
    pid: u32,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Take a slot for a connection from `pid`. `at_terminal` is asked only when the
    /// reserve is reached.
    pub fn take(
        self: &Arc<Self>,
        pid: u32,
        at_terminal: impl FnOnce() -> bool,
    ) -> Result<Slot, Refusal> {
        let mut s = self.lock();
        if s.per_pid.get(&pid).copied().unwrap_or(0) >= MAX_PER_PEER {
            return Err(Refusal::PerPeer);
        }
        if s.total >= MAX_CONNECTIONS
            || (s.total >= MAX_CONNECTIONS - RESERVED_FOR_TERMINALS && !at_terminal())
        {
            return Err(Refusal::Full);
        }
        s.total += 1;
        *s.per_pid.entry(pid).or_insert(0) += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            pid,
        })
    }

    /// Connections in use.
    pub fn in_use(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.slots.lock();
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_pid.get_mut(&self.pid) {
            *n -= 1;
            if *n == 0 {
                s.per_pid.remove(&self.pid);
            }
        }
        s.served_since_trim += 1;
        // Each connection ran on its own thread, whose allocations glibc keeps in per-thread
        // arenas after it exits: once the daemon is idle again, give them back.
        if s.total == 0 && s.served_since_trim >= TRIM_EVERY {
            s.served_since_trim = 0;
            drop(s);
            crate::os::release_free_memory();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_peer_and_in_all_with_a_reserve_for_terminals() {
        let slots = Arc::new(Slots::default());
        let mut held = Vec::new();
        for _ in 0..MAX_PER_PEER {
            held.push(slots.take(1, || false).unwrap());
        }
        assert_eq!(slots.take(1, || true).err(), Some(Refusal::PerPeer));
        let mut pid = 2;
        while slots.in_use() < MAX_CONNECTIONS - RESERVED_FOR_TERMINALS {
            match slots.take(pid, || false) {
                Ok(s) => held.push(s),
                Err(Refusal::PerPeer) => pid += 1,
                Err(Refusal::Full) => panic!("full too early"),
            }
        }
        assert_eq!(slots.take(9999, || false).err(), Some(Refusal::Full));
        let human = slots.take(9999, || true).unwrap();
        held.truncate(0);
        drop(human);
        assert_eq!(slots.in_use(), 0);
    }
}
