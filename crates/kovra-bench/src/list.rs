//! `list`: one `list` request timed in phases, to see where `kovra list --json` spends
//! its time: the daemon (request written → first reply byte), the transfer of the reply,
//! the client's parse, and the CLI-style pretty JSON rendering.

use std::io::{BufReader, BufWriter, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_proto::frame;
use kovra_proto::{Reply, Request, Response};
use serde_json::json;

use crate::stats::Summary;
use crate::{envelope, paths, say};

struct Phases {
    daemon: Duration,
    transfer: Duration,
    parse: Duration,
    render: Duration,
    bytes: usize,
    records: usize,
}

fn once(stream: &UnixStream) -> anyhow::Result<Phases> {
    let mut writer = BufWriter::new(stream.try_clone()?);
    let mut reader = BufReader::with_capacity(1 << 20, stream.try_clone()?);
    let env = envelope(Request::List { env: None });
    let t0 = Instant::now();
    frame::write(&mut writer, &env).context("sending list")?;
    let mut len = [0u8; 4];
    reader
        .read_exact(&mut len)
        .context("reading the reply length")?;
    let t1 = Instant::now();
    let len = u32::from_be_bytes(len) as usize;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).context("reading the reply")?;
    let t2 = Instant::now();
    let response: Response = serde_json::from_slice(&body).context("parsing the reply")?;
    let t3 = Instant::now();
    let reply = match response {
        Response::Ok { reply } => reply,
        Response::Error(e) => bail!("the daemon answered {}: {}", e.code, e.message),
        other => bail!("unexpected reply to list: {other:?}"),
    };
    let Reply::Records(listing) = &*reply else {
        bail!("unexpected reply kind to list");
    };
    let records = listing.records.len();
    // What the CLI does with --json: a Value, then pretty text.
    let value = serde_json::to_value(&*reply).context("rendering")?;
    let text = serde_json::to_string_pretty(&value).context("rendering")?;
    let t4 = Instant::now();
    std::hint::black_box(text.len());
    Ok(Phases {
        daemon: t1 - t0,
        transfer: t2 - t1,
        parse: t3 - t2,
        render: t4 - t3,
        bytes: len,
        records,
    })
}

pub fn run(iterations: usize, json: bool) -> anyhow::Result<()> {
    let paths = paths()?;
    let stream = UnixStream::connect(&paths.socket)
        .with_context(|| format!("connecting to {}", paths.socket.display()))?;
    let mut all = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let p = once(&stream)?;
        say(
            json,
            &format!(
                "list #{}: {} records, {:.1} MiB reply; daemon {:.1}ms, transfer {:.1}ms, parse {:.1}ms, render {:.1}ms",
                i + 1,
                p.records,
                p.bytes as f64 / (1024.0 * 1024.0),
                p.daemon.as_secs_f64() * 1e3,
                p.transfer.as_secs_f64() * 1e3,
                p.parse.as_secs_f64() * 1e3,
                p.render.as_secs_f64() * 1e3,
            ),
        );
        all.push(p);
    }
    let pick = |f: fn(&Phases) -> Duration| Summary::of(&all.iter().map(f).collect::<Vec<_>>());
    let (daemon, transfer, parse, render) = (
        pick(|p| p.daemon),
        pick(|p| p.transfer),
        pick(|p| p.parse),
        pick(|p| p.render),
    );
    if json {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("list-phases"));
        m.insert("records".into(), json!(all.last().map(|p| p.records)));
        m.insert("reply_bytes".into(), json!(all.last().map(|p| p.bytes)));
        daemon.insert_into(&mut m, "daemon");
        transfer.insert_into(&mut m, "transfer");
        parse.insert_into(&mut m, "parse");
        render.insert_into(&mut m, "render");
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
