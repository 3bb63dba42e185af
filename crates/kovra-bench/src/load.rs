//! `load-mix`: many concurrent clients against one running, unlocked daemon (issue 15).
//!
//! Each client is a thread with its own connection (`kovra_client::Client`, the peer check
//! included) and its own records `secret:dev/load/cNN-rR` (low, created first with `add`).
//! It mixes `status`, `list`, `show` and `set` (the request `kovra set` sends) over the wire
//! with `kovra run --refs F -- true` (the real CLI: a run needs descriptors passed), and
//! keeps, for each of its records, the last value the daemon acknowledged and its version.
//! Checks on the way: a `set` must answer the next version, a `show` must show the version of
//! the last acknowledged `set` (only this client writes the record). At the end every record
//! is read back through the daemon with `kovra run --refs V -- sh -c 'printf %s "$V" |
//! sha256sum'` and compared with the SHA-256 of the value last acknowledged: a mismatch is a
//! lost update.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_client::Client;
use kovra_proto::{Reply, Request, Response, Secret, Sensitivity};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{envelope, paths, say};

pub struct Options<'a> {
    pub clients: usize,
    pub secs: u64,
    pub records: usize,
    /// One operation in this many is a `kovra run` (0: none).
    pub run_every: usize,
    /// The `kovra` binary (runs).
    pub kovra: &'a Path,
    /// A directory for the refs files.
    pub work: &'a Path,
}

/// Operation kinds, in report order.
const KINDS: [&str; 5] = ["status", "list", "show", "set", "run"];

fn coordinate(client: usize, record: usize) -> String {
    format!("secret:dev/load/c{client:02}-r{record}")
}

/// A small xorshift generator: the mix needs no quality, only no lockstep between clients.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        Rng(u64::from_le_bytes(b) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What a client knows about one of its records.
#[derive(Clone)]
struct Held {
    /// The last value the daemon acknowledged, and the version it answered.
    value: String,
    version: u64,
    /// A `set` that got no answer (an error on the connection): the vault may hold it.
    unacknowledged: Option<String>,
}

#[derive(Default)]
struct Tally {
    samples: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<&'static str, u64>,
    messages: Vec<String>,
    stale_shows: u64,
    version_skips: u64,
    reconnects: u64,
}

impl Tally {
    fn error(&mut self, kind: &'static str, message: String) {
        *self.errors.entry(kind).or_default() += 1;
        if self.messages.len() < 10 {
            self.messages.push(format!("{kind}: {message}"));
        }
    }
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.samples {
            self.samples.entry(k).or_default().extend(v);
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for m in other.messages {
            if self.messages.len() < 10 {
                self.messages.push(m);
            }
        }
        self.stale_shows += other.stale_shows;
        self.version_skips += other.version_skips;
        self.reconnects += other.reconnects;
    }
}

fn describe(response: &Response) -> String {
    match response {
        Response::Error(e) => format!("the daemon answered {}: {}", e.code, e.message),
        Response::NeedsProof { code, .. } => format!("the daemon asked for a proof ({code})"),
        Response::Ok { reply } => format!("unexpected reply {reply:?}"),
    }
}

fn fresh_value(rng: &mut Rng, client: usize, record: usize, n: u64) -> String {
    format!(
        "load-c{client:02}-r{record}-n{n}-{:016x}{:016x}",
        rng.next(),
        rng.next()
    )
}

fn create_records(
    client: &mut Client,
    id: usize,
    records: usize,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Held>> {
    let mut held = Vec::with_capacity(records);
    for r in 0..records {
        let value = fresh_value(rng, id, r, 0);
        let req = Request::Add {
            coordinate: coordinate(id, r),
            value: Secret::new(value.clone().into_bytes()),
            sensitivity: Some(Sensitivity::Low),
            description: Some("kovra-bench load-mix".into()),
            revealable: false,
            totp: false,
            provider: None,
            ssh_key: false,
            key_passphrase: None,
            hosts: Vec::new(),
            database: None,
        };
        let version = match client.call(&envelope(req)).context("add")? {
            Response::Ok { reply } => match *reply {
                Reply::Written { version, .. } => version,
                other => bail!("unexpected reply to add: {other:?}"),
            },
            other => bail!("add {}: {}", coordinate(id, r), describe(&other)),
        };
        held.push(Held {
            value,
            version,
            unacknowledged: None,
        });
    }
    Ok(held)
}

/// The refs file a client's runs use: every record of the client.
fn write_refs(work: &Path, id: usize, records: usize) -> anyhow::Result<PathBuf> {
    let path = work.join(format!("load-c{id:02}.refs"));
    let mut text = String::new();
    for r in 0..records {
        text.push_str(&format!("LOAD_R{r}={}\n", coordinate(id, r)));
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn run_cli(kovra: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(kovra)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("starting kovra: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "kovra {} exited with {}: {}",
            args.first().copied().unwrap_or(""),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

struct ClientRun {
    tally: Tally,
    held: Vec<Held>,
    ops: u64,
}

fn client_loop(
    id: usize,
    opts: &Options<'_>,
    mut client: Client,
    mut held: Vec<Held>,
    mut rng: Rng,
    refs: &Path,
    deadline: Instant,
) -> ClientRun {
    let paths = paths().ok();
    let mut tally = Tally::default();
    let mut ops = 0u64;
    let mut counter = 0u64;
    let refs = refs.display().to_string();
    let mut broken = false;
    while Instant::now() < deadline {
        if broken {
            // The connection failed: a new one, as the CLI would open for its next command.
            match paths.as_ref().map(crate::roundtrip::connect) {
                Some(Ok(c)) => {
                    client = c;
                    broken = false;
                    tally.reconnects += 1;
                }
                Some(Err(e)) => {
                    tally.error("connect", format!("{e:#}"));
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                None => return ClientRun { tally, held, ops },
            }
        }
        let roll = rng.below(100);
        let is_run = opts.run_every > 0 && rng.below(opts.run_every) == 0;
        let kind: &'static str = if is_run {
            "run"
        } else if roll < 40 {
            "set"
        } else if roll < 60 {
            "show"
        } else if roll < 80 {
            "status"
        } else {
            "list"
        };
        let r = rng.below(held.len());
        let t = Instant::now();
        let outcome: Result<(), String> = match kind {
            "run" => run_cli(opts.kovra, &["run", "--refs", &refs, "--", "true"]).map(|_| ()),
            "status" => match client.call(&envelope(Request::Status)) {
                Ok(Response::Ok { reply }) if matches!(*reply, Reply::Status(_)) => Ok(()),
                Ok(other) => Err(describe(&other)),
                Err(e) => {
                    broken = true;
                    Err(e.to_string())
                }
            },
            "list" => match client.call(&envelope(Request::List {
                env: Some("dev".into()),
            })) {
                Ok(Response::Ok { reply }) => match *reply {
                    Reply::Records(ref l) if l.records.len() >= opts.clients * opts.records => {
                        Ok(())
                    }
                    Reply::Records(ref l) => Err(format!(
                        "list showed {} records, fewer than the {} of the benchmark",
                        l.records.len(),
                        opts.clients * opts.records
                    )),
                    other => Err(format!("unexpected reply {other:?}")),
                },
                Ok(other) => Err(describe(&other)),
                Err(e) => {
                    broken = true;
                    Err(e.to_string())
                }
            },
            "show" => match client.call(&envelope(Request::Show {
                coordinate: coordinate(id, r),
            })) {
                Ok(Response::Ok { reply }) => match *reply {
                    Reply::Record(ref v) => {
                        if let Some(h) = held.get(r)
                            && v.version != h.version
                            && h.unacknowledged.is_none()
                        {
                            tally.stale_shows += 1;
                            if tally.messages.len() < 10 {
                                tally.messages.push(format!(
                                    "show {}: version {}, last acknowledged {}",
                                    coordinate(id, r),
                                    v.version,
                                    h.version
                                ));
                            }
                        }
                        Ok(())
                    }
                    other => Err(format!("unexpected reply {other:?}")),
                },
                Ok(other) => Err(describe(&other)),
                Err(e) => {
                    broken = true;
                    Err(e.to_string())
                }
            },
            _ => {
                counter += 1;
                let value = fresh_value(&mut rng, id, r, counter);
                let req = Request::Set {
                    coordinate: coordinate(id, r),
                    value: Secret::new(value.clone().into_bytes()),
                    proof: None,
                };
                match client.call(&envelope(req)) {
                    Ok(Response::Ok { reply }) => match *reply {
                        Reply::Written { version, .. } => {
                            if let Some(h) = held.get_mut(r) {
                                if version != h.version + 1 && h.unacknowledged.is_none() {
                                    tally.version_skips += 1;
                                    if tally.messages.len() < 10 {
                                        tally.messages.push(format!(
                                            "set {}: version {version} after {}",
                                            coordinate(id, r),
                                            h.version
                                        ));
                                    }
                                }
                                h.value = value;
                                h.version = version;
                                h.unacknowledged = None;
                            }
                            Ok(())
                        }
                        other => Err(format!("unexpected reply {other:?}")),
                    },
                    Ok(other) => Err(describe(&other)),
                    Err(e) => {
                        // Sent but unanswered: the vault may or may not hold it now.
                        if let Some(h) = held.get_mut(r) {
                            h.unacknowledged = Some(value);
                        }
                        broken = true;
                        Err(e.to_string())
                    }
                }
            }
        };
        let elapsed = t.elapsed();
        ops += 1;
        match outcome {
            Ok(()) => tally.samples.entry(kind).or_default().push(elapsed),
            Err(m) => tally.error(kind, m),
        }
    }
    ClientRun { tally, held, ops }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Nearest-rank percentile in milliseconds.
fn pct_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn run(opts: &Options<'_>, json: bool) -> anyhow::Result<()> {
    let paths = paths()?;
    let secs = opts.secs;
    let mut setup = Vec::with_capacity(opts.clients);
    let mut rng = Rng::new();
    for id in 0..opts.clients {
        let mut client = crate::roundtrip::connect(&paths)?;
        let held = create_records(&mut client, id, opts.records.max(1), &mut rng)
            .with_context(|| format!("creating the records of client {id}"))?;
        let refs = write_refs(opts.work, id, opts.records.max(1))?;
        setup.push((client, held, refs, Rng(rng.next() | 1)));
    }
    say(
        json,
        &format!(
            "load-mix: {} clients x {} records created; mixing for {secs} s (1 op in {} a `kovra run`)",
            opts.clients, opts.records, opts.run_every
        ),
    );

    let total = Mutex::new(Tally::default());
    let held_all: Mutex<Vec<(usize, Vec<Held>)>> = Mutex::new(Vec::new());
    let ops_total = Mutex::new(0u64);
    let pid = crate::conns::daemon_pid(&paths)?;
    let rss_start = crate::conns::proc_status(pid).0;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    // The daemon's RSS every 5 s of the mix: a steady climb would be a leak.
    let mut rss_trace: Vec<(u64, u64)> = vec![(rss_start, crate::conns::rss_anon(pid))];
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut trace = Vec::new();
            let mut next = started + Duration::from_secs(5);
            while next <= deadline {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                trace.push((
                    crate::conns::proc_status(pid).0,
                    crate::conns::rss_anon(pid),
                ));
                next += Duration::from_secs(5);
            }
            trace
        });
        for (id, (client, held, refs, crng)) in setup.into_iter().enumerate() {
            let total = &total;
            let held_all = &held_all;
            let ops_total = &ops_total;
            s.spawn(move || {
                let done = client_loop(id, opts, client, held, crng, &refs, deadline);
                if let Ok(mut t) = total.lock() {
                    t.merge(done.tally);
                }
                if let Ok(mut h) = held_all.lock() {
                    h.push((id, done.held));
                }
                if let Ok(mut o) = ops_total.lock() {
                    *o += done.ops;
                }
            });
        }
        if let Ok(t) = sampler.join() {
            rss_trace.extend(t);
        }
    });
    let wall = started.elapsed();
    let mut tally = total
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
    let mut held_all = held_all
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
    held_all.sort_by_key(|(id, _)| *id);
    let ops = ops_total
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;

    // Read every record back through the daemon and compare with the last acknowledged value.
    let verify_refs = opts.work.join("load-verify.refs");
    let mut checked = 0u64;
    let mut lost = 0u64;
    let mut unacknowledged_stored = 0u64;
    let mut verify_errors = 0u64;
    for (id, held) in &held_all {
        for (r, h) in held.iter().enumerate() {
            std::fs::write(&verify_refs, format!("V={}\n", coordinate(*id, r)))
                .context("writing the verification refs file")?;
            let refs = verify_refs.display().to_string();
            let out = run_cli(
                opts.kovra,
                &[
                    "run",
                    "--refs",
                    &refs,
                    "--",
                    "sh",
                    "-c",
                    "printf %s \"$V\" | sha256sum",
                ],
            );
            checked += 1;
            match out {
                Ok(stdout) => {
                    let text = String::from_utf8_lossy(&stdout);
                    let got = text.split_whitespace().next().unwrap_or("");
                    if got == sha256_hex(h.value.as_bytes()) {
                        continue;
                    }
                    if h.unacknowledged
                        .as_ref()
                        .is_some_and(|u| got == sha256_hex(u.as_bytes()))
                    {
                        unacknowledged_stored += 1;
                        continue;
                    }
                    lost += 1;
                    if tally.messages.len() < 10 {
                        tally.messages.push(format!(
                            "verify {}: the vault holds another value than version {} acknowledged",
                            coordinate(*id, r),
                            h.version
                        ));
                    }
                }
                Err(m) => {
                    verify_errors += 1;
                    tally.error("verify", m);
                }
            }
        }
    }
    let _ = std::fs::remove_file(&verify_refs);

    let errors: u64 = tally.errors.values().sum();
    say(
        json,
        &format!(
            "load-mix: {ops} operations in {:.1} s ({:.0}/s), {errors} errors, {} reconnects; {checked} records verified, {lost} lost updates, {} stale shows, {} version skips",
            wall.as_secs_f64(),
            ops as f64 / wall.as_secs_f64().max(1e-9),
            tally.reconnects,
            tally.stale_shows,
            tally.version_skips
        ),
    );
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), json!("load-mix"));
    m.insert("clients".into(), json!(opts.clients));
    m.insert("records_per_client".into(), json!(opts.records));
    m.insert("secs".into(), json!(r3(wall.as_secs_f64())));
    m.insert("ops".into(), json!(ops));
    m.insert(
        "ops_per_sec".into(),
        json!((ops as f64 / wall.as_secs_f64().max(1e-9)).round() as u64),
    );
    m.insert("errors".into(), json!(errors));
    let trace = rss_trace
        .iter()
        .map(|(rss, anon)| format!("{:.1} ({:.1})", *rss as f64 / 1024.0, *anon as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(" ");
    say(
        json,
        &format!("load-mix: daemon RSS (RssAnon) every 5 s, MiB: {trace}"),
    );
    m.insert("rss_trace_mib".into(), json!(trace));
    m.insert("reconnects".into(), json!(tally.reconnects));
    m.insert("verified".into(), json!(checked));
    m.insert("lost_updates".into(), json!(lost));
    m.insert("verify_errors".into(), json!(verify_errors));
    m.insert("unacknowledged_stored".into(), json!(unacknowledged_stored));
    m.insert("stale_shows".into(), json!(tally.stale_shows));
    m.insert("version_skips".into(), json!(tally.version_skips));
    for kind in KINDS {
        let mut s = tally.samples.remove(kind).unwrap_or_default();
        s.sort_unstable();
        let errs = tally.errors.get(kind).copied().unwrap_or(0);
        let (p50, p95, p99, max) = (
            pct_ms(&s, 50.0),
            pct_ms(&s, 95.0),
            pct_ms(&s, 99.0),
            pct_ms(&s, 100.0),
        );
        say(
            json,
            &format!(
                "load-mix {kind}: n={} errors={errs} p50={p50:.3}ms p95={p95:.3}ms p99={p99:.3}ms max={max:.3}ms",
                s.len()
            ),
        );
        m.insert(format!("{kind}_n"), json!(s.len()));
        m.insert(format!("{kind}_errors"), json!(errs));
        m.insert(format!("{kind}_p50_ms"), json!(r3(p50)));
        m.insert(format!("{kind}_p95_ms"), json!(r3(p95)));
        m.insert(format!("{kind}_p99_ms"), json!(r3(p99)));
        m.insert(format!("{kind}_max_ms"), json!(r3(max)));
    }
    for (k, v) in &tally.errors {
        if !KINDS.contains(k) {
            m.insert(format!("{k}_errors"), json!(v));
        }
    }
    for (i, msg) in tally.messages.iter().enumerate() {
        say(json, &format!("load-mix: problem {}: {msg}", i + 1));
    }
    // One line, so a shell script can pick it with sed.
    m.insert(
        "first_problems".into(),
        json!(
            tally
                .messages
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    );
    if json {
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
