//! A flood of connections is bounded: alone in its test binary, so the thread count it
//! reads is the agent's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Agent, REQUEST_IDENTITIES, recv, roundtrip};
use kovra_sshagent::Config;
use kovra_sshagent::ssh_agent_lib::proto::Response;
use kovra_sshagent::ssh_agent_lib::ssh_encoding::Decode;

fn still_serves(stream: &mut std::os::unix::net::UnixStream) {
    let reply = roundtrip(stream, REQUEST_IDENTITIES);
    assert!(
        matches!(Response::decode(&mut &reply[..]), Ok(Response::IdentitiesAnswer(ids)) if ids.len() == 2),
        "{reply:?}"
    );
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_flood_of_connections_is_bounded_and_the_server_recovers() {
    let agent = Agent::with_config(Config {
        max_connections: 4,
        ..Config::default()
    });
    let before = threads();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = agent.connect();
        still_serves(&mut s);
        held.push(s);
    }
    // 60 more: each is accepted and closed at once, none gets a thread.
    let mut refused = 0;
    for _ in 0..60 {
        let mut s = agent.connect();
        // The agent may close before the request is written: a failed write is a refusal too.
        let mut frame = vec![0, 0, 0, 1];
        frame.extend_from_slice(REQUEST_IDENTITIES);
        if s.write_all(&frame).is_err() || recv(&mut s).is_none() {
            refused += 1;
        }
    }
    assert_eq!(refused, 60);
    assert!(
        threads() <= before + 4,
        "{} threads, {before} before",
        threads()
    );
    assert_eq!(agent.server.as_ref().unwrap().live_connections(), 4);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while agent.server.as_ref().unwrap().live_connections() > 0 {
        assert!(Instant::now() < deadline, "connections not released");
        std::thread::sleep(Duration::from_millis(10));
    }
    still_serves(&mut agent.connect());
}
