//! `list`: `list` requests timed in phases, to see where `kovra list --json` spends its
//! time: the daemon (request written → first reply byte: `daemon`; → every frame read, raw:
//! `received`, the daemon time of a whole reply), the client's parse of the pages, and rendering each record as pretty JSON (what
//! `kovra list --json` prints). Both forms are timed, in turn on one connection: the
//! streamed `list-stream` the CLI sends, and the one-frame `list` the MCP server sends.

use std::io::{BufReader, BufWriter, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_proto::frame;
use kovra_proto::{Page, RecordView, Reply, Request, Response};
use serde_json::json;

use crate::stats::Summary;
use crate::{envelope, paths, say};

struct Phases {
    /// Request written → first reply byte.
    first: Duration,
    /// Request written → every frame read (no parsing).
    daemon: Duration,
    parse: Duration,
    render: Duration,
    bytes: usize,
    frames: usize,
    records: usize,
}

/// One raw frame body.
fn raw_frame(reader: &mut impl Read) -> anyhow::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    reader
        .read_exact(&mut len)
        .context("reading a frame length")?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    reader.read_exact(&mut body).context("reading a frame")?;
    Ok(body)
}

fn once(stream: &UnixStream, streamed: bool) -> anyhow::Result<Phases> {
    let mut writer = BufWriter::new(stream.try_clone()?);
    let mut reader = BufReader::with_capacity(1 << 20, stream.try_clone()?);
    let request = if streamed {
        Request::ListStream {
            env: None,
            offset: 0,
            limit: None,
        }
    } else {
        Request::List { env: None }
    };
    let t0 = Instant::now();
    frame::write(&mut writer, &envelope(request)).context("sending list")?;
    let mut one = [0u8; 1];
    reader
        .read_exact(&mut one)
        .context("waiting for the reply")?;
    let first = t0.elapsed();
    let head_body = raw_frame(&mut (&one[..]).chain(&mut reader))?;
    let response: Response = serde_json::from_slice(&head_body).context("parsing the head")?;
    let reply = match response {
        Response::Ok { reply } => reply,
        Response::Error(e) => bail!("the daemon answered {}: {}", e.code, e.message),
        other => bail!("unexpected reply to list: {other:?}"),
    };
    let (bodies, t_daemon) = match &*reply {
        Reply::RecordsStream { total, .. } if streamed => {
            let mut bodies = Vec::new();
            for _ in 0..kovra_proto::pages_for(*total) {
                bodies.push(raw_frame(&mut reader)?);
            }
            (bodies, t0.elapsed())
        }
        Reply::Records(_) if !streamed => (Vec::new(), t0.elapsed()),
        _ => bail!("unexpected reply kind to list"),
    };
    let bytes = head_body.len() + bodies.iter().map(Vec::len).sum::<usize>();
    let frames = 1 + bodies.len();
    // Parse as the CLI does: page by page (or the one frame), then render each record.
    let t1 = Instant::now();
    let mut pages: Vec<Vec<RecordView>> = Vec::new();
    if streamed {
        for body in &bodies {
            let page: Page<RecordView> = serde_json::from_slice(body).context("parsing a page")?;
            pages.push(page.items);
        }
    } else if let Reply::Records(listing) = *reply {
        pages.push(listing.records);
    }
    let t2 = Instant::now();
    let mut sink = std::io::sink();
    let mut buf = Vec::with_capacity(1024);
    for record in pages.iter().flatten() {
        buf.clear();
        serde_json::to_writer_pretty(&mut buf, record).context("rendering")?;
        std::io::Write::write_all(&mut sink, &buf)?;
    }
    let t3 = Instant::now();
    Ok(Phases {
        first,
        daemon: t_daemon,
        parse: t2 - t1,
        render: t3 - t2,
        bytes,
        frames,
        records: pages.iter().map(Vec::len).sum(),
    })
}

pub fn run(iterations: usize, json: bool) -> anyhow::Result<()> {
    let paths = paths()?;
    let stream = UnixStream::connect(&paths.socket)
        .with_context(|| format!("connecting to {}", paths.socket.display()))?;
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!("list-phases"));
    // Interleaved: one of each form per round, so load drift hits both alike.
    let mut all: [Vec<Phases>; 2] = [Vec::new(), Vec::new()];
    for i in 0..iterations {
        for (k, streamed) in [true, false].into_iter().enumerate() {
            let p = once(&stream, streamed)?;
            say(
                json,
                &format!(
                    "list{} #{}: {} records, {:.1} MiB in {} frame(s); first byte {:.1}ms, daemon {:.1}ms, parse {:.1}ms, render {:.1}ms",
                    if streamed { "-stream" } else { " (one frame)" },
                    i + 1,
                    p.records,
                    p.bytes as f64 / (1024.0 * 1024.0),
                    p.frames,
                    p.first.as_secs_f64() * 1e3,
                    p.daemon.as_secs_f64() * 1e3,
                    p.parse.as_secs_f64() * 1e3,
                    p.render.as_secs_f64() * 1e3,
                ),
            );
            all[k].push(p);
        }
    }
    for (k, prefix) in [(0, ""), (1, "frame_")] {
        let runs = &all[k];
        let pick =
            |f: fn(&Phases) -> Duration| Summary::of(&runs.iter().map(f).collect::<Vec<_>>());
        if k == 0 {
            out.insert("records".into(), json!(runs.last().map(|p| p.records)));
            out.insert("reply_bytes".into(), json!(runs.last().map(|p| p.bytes)));
        }
        // `daemon` and `transfer` as bench/run.sh reads them: to the first byte, then the rest.
        pick(|p| p.first).insert_into(&mut out, &format!("{prefix}daemon"));
        pick(|p| p.daemon - p.first).insert_into(&mut out, &format!("{prefix}transfer"));
        pick(|p| p.daemon).insert_into(&mut out, &format!("{prefix}received"));
        pick(|p| p.parse).insert_into(&mut out, &format!("{prefix}parse"));
        pick(|p| p.render).insert_into(&mut out, &format!("{prefix}render"));
    }
    if json {
        println!("{}", serde_json::Value::Object(out));
    }
    Ok(())
}
