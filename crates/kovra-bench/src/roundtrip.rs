//! `roundtrip`: `status` requests against the running daemon, timed from the client's side
//! (frame written, reply read and parsed). `status` needs no key and writes no audit entry,
//! so this measures the protocol path itself: framing, JSON, the daemon's dispatch.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_client::Client;
use kovra_proto::paths::Paths;
use kovra_proto::{Envelope, Reply, Request, Response};
use serde_json::json;

use crate::stats::Summary;
use crate::{envelope, paths, say};

fn status_once(client: &mut Client, env: &Envelope) -> anyhow::Result<()> {
    match client.call(env).context("status request")? {
        Response::Ok { reply } if matches!(*reply, Reply::Status(_)) => Ok(()),
        Response::Error(e) => bail!("the daemon answered {}: {}", e.code, e.message),
        other => bail!("unexpected reply to status: {other:?}"),
    }
}

/// Connect to the daemon, which runs the `kovra-full` built beside this benchmark (the
/// client checks the daemon's executable where it can read it).
pub fn connect(paths: &Paths) -> anyhow::Result<Client> {
    let kovra = std::env::current_exe()
        .context("locating kovra-bench")?
        .with_file_name("kovra-full");
    Client::connect_expecting(paths, &kovra).with_context(|| {
        format!(
            "connecting to {} (start the daemon first, e.g. `kovra status` after `kovra unlock`)",
            paths.socket.display()
        )
    })
}

pub fn run(
    iterations: usize,
    connect_iterations: usize,
    warmup: usize,
    json: bool,
) -> anyhow::Result<()> {
    let paths = paths()?;
    let env = envelope(Request::Status);

    // One connection, many requests.
    let mut client = connect(&paths)?;
    for _ in 0..warmup {
        status_once(&mut client, &env)?;
    }
    let mut samples = Vec::with_capacity(iterations);
    let wall = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        status_once(&mut client, &env)?;
        samples.push(t.elapsed());
    }
    let wall = wall.elapsed();
    drop(client);
    let persistent = Summary::of(&samples);
    let rps = iterations as f64 / wall.as_secs_f64().max(1e-9);
    say(json, &persistent.line("roundtrip (one connection)"));
    say(
        json,
        &format!("roundtrip (one connection): {rps:.0} requests/s"),
    );

    // A new connection per request: connect + SO_PEERCRED + /proc lookups + one request.
    let mut fresh: Vec<Duration> = Vec::with_capacity(connect_iterations);
    for _ in 0..connect_iterations {
        let t = Instant::now();
        let mut c = connect(&paths)?;
        status_once(&mut c, &env)?;
        fresh.push(t.elapsed());
    }
    let fresh = (connect_iterations > 0).then(|| Summary::of(&fresh));
    if let Some(s) = &fresh {
        say(json, &s.line("roundtrip (new connection each)"));
    }

    if json {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("roundtrip"));
        m.insert("request".into(), json!("status"));
        m.insert("socket".into(), json!(paths.socket.display().to_string()));
        persistent.insert_into(&mut m, "one_connection");
        m.insert("one_connection_rps".into(), json!(rps.round() as u64));
        if let Some(s) = &fresh {
            s.insert_into(&mut m, "new_connection");
        }
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
