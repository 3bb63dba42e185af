//! What a run leaves in the daemon's memory. Plaintext passes through copies the daemon does
//! not own (the child's environment inside `std::process::Command`, the request's JSON while
//! it is parsed); `kovra-full` wipes every heap block as it is freed, so once the vault is
//! locked (which also empties the redactor cache) no copy of an injected value is left. This
//! covers `run`'s path; what is never freed (a reused buffer, a stack frame) the allocator
//! does not wipe, and a copy left there would show here too.
//!
//! Reading another process's memory takes root (the daemon is not dumpable): as another
//! user this test says so and passes without looking.

use super::*;

/// The readable and writable private anonymous regions of `pid` (its heap, its threads'
/// arenas and stacks), read whole.
fn anonymous_memory(pid: u32) -> Vec<u8> {
    use std::io::{Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("mem");
    let mut all = Vec::new();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Unnamed, or the kernel's names for anonymous memory: [heap], [stack], [anon:…].
        let anonymous = fields.len() == 5
            || fields.get(5).is_some_and(|p| {
                p.starts_with("[heap]") || p.starts_with("[stack]") || p.starts_with("[anon:")
            });
        if fields.get(1) != Some(&"rw-p") || !anonymous {
            continue;
        }
        let (start, end) = fields[0].split_once('-').expect("range");
        let start = u64::from_str_radix(start, 16).expect("start");
        let end = u64::from_str_radix(end, 16).expect("end");
        let mut region = vec![0u8; usize::try_from(end - start).expect("size")];
        // Every such region is readable by root: one that is not would hide a leak, unless
        // it is gone meanwhile (a thread that ended took its stack with it).
        let read = mem
            .seek(SeekFrom::Start(start))
            .and_then(|_| mem.read_exact(&mut region));
        match read {
            Ok(()) => all.extend_from_slice(&region),
            Err(e) => {
                let now = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
                assert!(
                    !now.lines().any(|l| l.starts_with(fields[0])),
                    "cannot read the daemon's region {}: {e}",
                    fields[0]
                );
            }
        }
    }
    assert!(!all.is_empty(), "no anonymous memory read from the daemon");
    all
}

#[test]
fn once_locked_the_daemon_holds_no_copy_of_a_value_it_injected() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: reading the daemon's memory takes root");
        return;
    }
    let p = Proj::new();
    // Long and random, so that a freed copy whose first 16 bytes the allocator reused for
    // its own pointers still shows its tail, which is what is looked for.
    let value = format!("{}-{}", canary("heap"), random_hex(16));
    let tail = &value[value.len() - 32..];
    p.add("secret:dev/app/token", &value, &[]);
    p.refs("TOKEN=secret:${ENV}/app/token\n");
    for _ in 0..3 {
        let out =
            p.h.run_with(p.cmd(&["run", "--env", "dev", "--", "true"]), None);
        assert_exit(&out, 0, "a run with the value injected");
    }
    // Planted: while unlocked, the redactor cache holds the value (the check can see it).
    let pid = p.h.daemon_pid().expect("the daemon");
    assert!(
        contains(&anonymous_memory(pid), tail.as_bytes()),
        "the scan did not find the value the redactor cache holds: it could not see a leak"
    );
    p.h.ok(&["lock"]);
    let heap = anonymous_memory(pid);
    // Only where: the bytes around a hit would show the rest of the value.
    if let Some(at) = heap.windows(tail.len()).position(|w| w == tail.as_bytes()) {
        panic!(
            "the locked daemon's memory holds a copy of secret:dev/app/token at offset {at} of {} bytes",
            heap.len()
        );
    }
}
