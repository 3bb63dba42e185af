//! The server dies with the test process, however that ends.
//!
//! `Drop` stops a server when a test ends normally or panics; a test binary killed outright
//! (a CI timeout, nonroot.rs's child timeout, SIGKILL, an abort) runs no destructor. So the
//! postmaster asks the kernel for SIGQUIT, an immediate shutdown, when its parent dies
//! (`setpriv --pdeathsig`). The kernel sends it when the *thread* that spawned the child ends,
//! not the process; tests run on threads that end, and a server may outlive the thread that
//! started it (one made in a helper thread, or shared). So every postmaster is spawned from
//! this one thread, which lives as long as the process.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};

type Request = (Command, Sender<io::Result<Child>>);

/// `command`, spawned from the keeper thread.
pub(crate) fn spawn(command: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (requests, incoming) = channel::<Request>();
        std::thread::Builder::new()
            .name("kovra-testpg-keeper".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .unwrap();
        Mutex::new(requests)
    });
    let (reply, answer) = channel();
    keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply))
        .unwrap();
    answer.recv().unwrap()
}
