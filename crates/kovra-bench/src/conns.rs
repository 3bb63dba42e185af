//! Connection load against one running daemon (issue 15):
//!
//! - `load-idle`: open N connections that never send anything and hold them; meanwhile time
//!   the real `kovra status` (a human waiting on the daemon). Counts connects that failed,
//!   connections the daemon closed (and when, after their own connect), and any reply the
//!   daemon wrote before closing one (a cap's `too-many-connections`, say) by its code.
//! - `load-flood`: N connections as fast as a few threads can make them, each sending one
//!   `status` and closing after the reply; the daemon's RSS and thread count before, right
//!   after, and a few seconds later.
//!
//! Both dial the way the CLI does (the daemon's abstract name, then the socket path) with no
//! peer check, and read replies as plain JSON, so that an error code this build does not know
//! is counted rather than fatal.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_proto::frame;
use kovra_proto::paths::Paths;
use kovra_proto::{Reply, Request, Response};
use serde_json::json;

use crate::{envelope, paths, say};

fn dial(paths: &Paths) -> std::io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(paths.abstract_name())
        .and_then(|addr| UnixStream::connect_addr(&addr))
        .or_else(|_| UnixStream::connect(&paths.socket))
}

/// The daemon's pid, from a `status` request.
pub(crate) fn daemon_pid(paths: &Paths) -> anyhow::Result<u32> {
    let mut s = dial(paths).context("connecting to the daemon")?;
    frame::write(&mut s, &envelope(Request::Status)).context("sending status")?;
    match frame::read(&mut s, frame::MAX_REPLY).context("reading status")? {
        Response::Ok { reply } => match *reply {
            Reply::Status(info) => Ok(info.daemon_pid),
            other => bail!("unexpected reply to status: {other:?}"),
        },
        _ => bail!("the daemon refused status"),
    }
}

/// VmRSS (KiB) and Threads of a process, from /proc/PID/status.
pub(crate) fn proc_status(pid: u32) -> (u64, u64) {
    let f = proc_fields(pid, &["VmRSS:", "Threads:"]);
    (f[0], f[1])
}

/// RssAnon (KiB): the heap and stacks, without the mapped vault file (on tmpfs the file's
/// pages count as RssShmem, elsewhere as RssFile).
pub(crate) fn rss_anon(pid: u32) -> u64 {
    proc_fields(pid, &["RssAnon:"])[0]
}

fn proc_fields<const N: usize>(pid: u32, names: &[&str; N]) -> [u64; N] {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    names.map(|name| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    })
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// Raise this process's soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
fn raise_nofile(want: u64) -> anyhow::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit")?;
    if soft < want {
        let new = want.min(hard);
        setrlimit(Resource::RLIMIT_NOFILE, new, hard).context("setrlimit")?;
        return Ok((new, hard));
    }
    Ok((soft, hard))
}

/// The error code of a reply frame's JSON body, or its status ("ok").
fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| code_of_value(&v))
        .unwrap_or_else(|_| "unparsed".into())
}

fn code_of_value(v: &serde_json::Value) -> String {
    match v.get("status").and_then(|s| s.as_str()) {
        Some("error") => v
            .get("code")
            .and_then(|c| c.as_str())
            .unwrap_or("error")
            .to_string(),
        Some(other) => other.to_string(),
        None => "unparsed".into(),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0.0)
}

fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Time the real `kovra status` `runs` times (ms each; errors as messages).
fn time_status(kovra: &Path, runs: usize) -> (Vec<f64>, Vec<String>) {
    let mut times = Vec::with_capacity(runs);
    let mut errors = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(kovra)
            .arg("status")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        match out {
            Ok(o) if o.status.success() => times.push(ms),
            Ok(o) => errors.push(format!(
                "kovra status exited with {} after {ms:.0} ms: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("starting kovra status: {e}")),
        }
    }
    (times, errors)
}

fn summary(label: &str, times: &[f64], m: &mut serde_json::Map<String, serde_json::Value>) {
    let mut s = times.to_vec();
    s.sort_by(f64::total_cmp);
    m.insert(format!("{label}_n"), json!(s.len()));
    m.insert(format!("{label}_median_ms"), json!(r1(pct(&s, 50.0))));
    m.insert(format!("{label}_max_ms"), json!(r1(pct(&s, 100.0))));
    m.insert(
        format!("{label}_min_ms"),
        json!(r1(s.first().copied().unwrap_or(0.0))),
    );
}

pub struct IdleOptions<'a> {
    pub connections: usize,
    pub status_runs: usize,
    /// How long to hold the connections after the last one opened (the daemon closes silent
    /// ones after 10 s).
    pub hold_secs: u64,
    /// Give up on connecting after this long (a connect blocks while the daemon's backlog
    /// is full and it cannot accept).
    pub connect_timeout_secs: u64,
    pub kovra: &'a Path,
}

/// One held connection and what became of it.
struct Held {
    stream: UnixStream,
    opened: Instant,
    closed: Option<Duration>,
    code: Option<String>,
    buf: Vec<u8>,
}

pub fn idle(opts: &IdleOptions<'_>, json: bool) -> anyhow::Result<()> {
    let paths = paths()?;
    let pid = daemon_pid(&paths)?;
    let (soft, hard) = raise_nofile(opts.connections as u64 + 256)?;
    say(
        json,
        &format!(
            "load-idle: RLIMIT_NOFILE soft {soft} (hard {hard}); daemon pid {pid}, its limit: {}",
            std::fs::read_to_string(format!("/proc/{pid}/limits"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| l
                    .split_whitespace()
                    .skip(3)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("/"))
                .unwrap_or_else(|| "unknown".into())
        ),
    );
    let (rss0, threads0) = proc_status(pid);
    let anon0 = rss_anon(pid);
    let (base_times, base_errors) = time_status(opts.kovra, opts.status_runs);

    // Connect from a thread of its own: a connect can block for as long as the daemon does
    // not accept, and the report must still come.
    let opened: Mutex<Vec<Held>> = Mutex::new(Vec::with_capacity(opts.connections));
    let failures: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let attempted = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let t_open = Instant::now();
    let mut connect_secs = 0.0;
    let mut stalled = false;
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..opts.connections {
                attempted.fetch_add(1, Ordering::Relaxed);
                let at = Instant::now();
                match dial(&paths).and_then(|st| st.set_nonblocking(true).map(|()| st)) {
                    Ok(stream) => {
                        if let Ok(mut v) = opened.lock() {
                            v.push(Held {
                                stream,
                                opened: at,
                                closed: None,
                                code: None,
                                buf: Vec::new(),
                            });
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failures.lock() {
                            *f.entry(e.to_string()).or_default() += 1;
                        }
                    }
                }
            }
            finished.store(true, Ordering::Release);
        });
        let limit = Duration::from_secs(opts.connect_timeout_secs);
        while !finished.load(Ordering::Acquire) && t_open.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
        connect_secs = t_open.elapsed().as_secs_f64();
        stalled = !finished.load(Ordering::Acquire);
        if stalled {
            // The scope would wait for the stuck connect: leave by reporting what we have,
            // and let the process's exit end the thread.
            say(
                json,
                &format!(
                    "load-idle: connects stalled after {connect_secs:.1} s at attempt {}",
                    attempted.load(Ordering::Relaxed)
                ),
            );
        }
        let held = opened.lock().map(|v| v.len()).unwrap_or(0);
        // The report below needs the held sockets; take them out of the mutex (a stalled
        // opener only pushes once its connect returns).
        let mut conns: Vec<Held> = opened
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let after_open = proc_status(pid);
        let daemon_fds = open_fds(pid);
        say(
            json,
            &format!(
                "load-idle: {held} of {} connects succeeded in {connect_secs:.2} s; daemon RSS {} KiB, {} threads, {daemon_fds} descriptors",
                opts.connections, after_open.0, after_open.1
            ),
        );

        // Watch the held connections while `kovra status` is timed, then until the hold ends.
        let (status_times, status_errors) = {
            let watch_stop = AtomicBool::new(false);
            let conns_ref = Mutex::new(&mut conns);
            std::thread::scope(|w| {
                w.spawn(|| {
                    while !watch_stop.load(Ordering::Acquire) {
                        if let Ok(mut c) = conns_ref.lock() {
                            poll_closed(&mut c);
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
                let r = time_status(opts.kovra, opts.status_runs);
                watch_stop.store(true, Ordering::Release);
                r
            })
        };
        let status_done = t_open.elapsed().as_secs_f64();
        let hold_until = Instant::now() + Duration::from_secs(opts.hold_secs);
        let mut mid = (0, 0);
        let mut sampled = false;
        let mut peak = after_open;
        let mut anon_peak = rss_anon(pid);
        while Instant::now() < hold_until && conns.iter().any(|c| c.closed.is_none()) {
            poll_closed(&mut conns);
            let now = proc_status(pid);
            peak = (peak.0.max(now.0), peak.1.max(now.1));
            anon_peak = anon_peak.max(rss_anon(pid));
            if !sampled && t_open.elapsed() > Duration::from_secs(5) {
                mid = proc_status(pid);
                sampled = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        poll_closed(&mut conns);
        let still_open = conns.iter().filter(|c| c.closed.is_none()).count();
        let mut closed: Vec<f64> = conns
            .iter()
            .filter_map(|c| c.closed.map(|d| d.as_secs_f64()))
            .collect();
        closed.sort_by(f64::total_cmp);
        let mut codes: BTreeMap<String, u64> = BTreeMap::new();
        for c in &conns {
            if let Some(code) = &c.code {
                *codes.entry(code.clone()).or_default() += 1;
            }
        }
        // Connections closed before `kovra status` was timed to the end.
        let closed_early = conns
            .iter()
            .filter(|c| {
                c.closed.is_some_and(|d| {
                    (c.opened - t_open).as_secs_f64() + d.as_secs_f64() < status_done
                })
            })
            .count();
        let (rss_end, threads_end) = proc_status(pid);
        drop(conns);
        std::thread::sleep(Duration::from_millis(500));
        let (rss_after, threads_after) = proc_status(pid);
        let anon_after = rss_anon(pid);
        let (after_times, after_errors) = time_status(opts.kovra, opts.status_runs.min(5));

        let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
        let failed: u64 = failures.values().sum();
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("load-idle"));
        m.insert("connections".into(), json!(opts.connections));
        m.insert("nofile_soft".into(), json!(soft));
        m.insert("held".into(), json!(held));
        m.insert("connect_failed".into(), json!(failed));
        m.insert("connect_stalled".into(), json!(stalled));
        m.insert(
            "connect_failures".into(),
            json!(
                failures
                    .iter()
                    .map(|(k, v)| format!("{v}x {k}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        m.insert("connect_secs".into(), json!(r1(connect_secs * 10.0) / 10.0));
        m.insert("closed_by_daemon".into(), json!(closed.len()));
        m.insert("closed_during_status".into(), json!(closed_early));
        m.insert("still_open".into(), json!(still_open));
        m.insert("closed_min_s".into(), json!(r1(pct(&closed, 0.0))));
        m.insert("closed_median_s".into(), json!(r1(pct(&closed, 50.0))));
        m.insert("closed_max_s".into(), json!(r1(pct(&closed, 100.0))));
        m.insert(
            "replies".into(),
            json!(
                codes
                    .iter()
                    .map(|(k, v)| format!("{v}x {k}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        m.insert("replied".into(), json!(codes.values().sum::<u64>()));
        m.insert("rss_before_kib".into(), json!(rss0));
        m.insert("threads_before".into(), json!(threads0));
        m.insert("rss_open_kib".into(), json!(after_open.0));
        m.insert("threads_open".into(), json!(after_open.1));
        m.insert("daemon_fds_open".into(), json!(daemon_fds));
        m.insert("rss_peak_kib".into(), json!(peak.0));
        m.insert("threads_peak".into(), json!(peak.1));
        m.insert("anon_before_kib".into(), json!(anon0));
        m.insert("anon_peak_kib".into(), json!(anon_peak));
        m.insert("anon_released_kib".into(), json!(anon_after));
        m.insert("rss_5s_kib".into(), json!(mid.0));
        m.insert("threads_5s".into(), json!(mid.1));
        m.insert("rss_end_kib".into(), json!(rss_end));
        m.insert("threads_end".into(), json!(threads_end));
        m.insert("rss_released_kib".into(), json!(rss_after));
        m.insert("threads_released".into(), json!(threads_after));
        summary("status_before", &base_times, &mut m);
        summary("status_held", &status_times, &mut m);
        // The first run meets the backlog of connections the daemon has not accepted yet.
        m.insert(
            "status_held_first_ms".into(),
            json!(r1(status_times.first().copied().unwrap_or(0.0))),
        );
        m.insert(
            "status_held_all_ms".into(),
            json!(
                status_times
                    .iter()
                    .map(|t| format!("{t:.1}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
        summary("status_after", &after_times, &mut m);
        let errors: Vec<String> = base_errors
            .iter()
            .chain(&status_errors)
            .chain(&after_errors)
            .cloned()
            .collect();
        m.insert("status_errors".into(), json!(errors.len()));
        for e in errors.iter().take(5) {
            say(json, &format!("load-idle: status error: {e}"));
        }
        say(
            json,
            &format!(
                "load-idle: kovra status before: median {:.1} ms; with {held} idle connections: median {:.1} ms, max {:.1} ms ({} runs, {} errors); after: median {:.1} ms",
                m.get("status_before_median_ms")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                m.get("status_held_median_ms")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                m.get("status_held_max_ms")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                status_times.len(),
                status_errors.len(),
                m.get("status_after_median_ms")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
            ),
        );
        say(
            json,
            &format!(
                "load-idle: closed by the daemon {} (after {:.1}..{:.1} s, median {:.1} s), {closed_early} of them before the status runs ended; still open after the hold {still_open}; replies: {}",
                closed.len(),
                pct(&closed, 0.0),
                pct(&closed, 100.0),
                pct(&closed, 50.0),
                m.get("replies").and_then(|v| v.as_str()).unwrap_or("")
            ),
        );
        if failed > 0 {
            say(
                json,
                &format!(
                    "load-idle: connect failures: {}",
                    m.get("connect_failures")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                ),
            );
        }
        if json {
            println!("{}", serde_json::Value::Object(m));
        }
        if stalled {
            // The opener thread is stuck in connect: exit without joining it.
            std::process::exit(0);
        }
    });
    Ok(())
}

/// Read what the daemon sent on each still-open connection: EOF marks it closed (and when),
/// a frame before it is kept and its code noted.
fn poll_closed(conns: &mut [Held]) {
    let mut chunk = [0u8; 4096];
    for c in conns.iter_mut().filter(|c| c.closed.is_none()) {
        loop {
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.closed = Some(c.opened.elapsed());
                    if c.buf.len() >= 4 {
                        c.code = Some(code_of(c.buf.get(4..).unwrap_or_default()));
                    }
                    break;
                }
                Ok(n) => c.buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    // ECONNRESET and the like: closed by the daemon all the same.
                    c.closed = Some(c.opened.elapsed());
                    break;
                }
            }
        }
    }
}

pub struct FloodOptions {
    pub connections: usize,
    pub threads: usize,
    pub settle_secs: u64,
}

pub fn flood(opts: &FloodOptions, json: bool) -> anyhow::Result<()> {
    let paths = paths()?;
    let pid = daemon_pid(&paths)?;
    let (rss0, threads0) = proc_status(pid);
    let anon0 = rss_anon(pid);
    let next = AtomicUsize::new(0);
    let replies: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let errors: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let mut peak = (0u64, 0u64);
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    std::thread::scope(|s| {
        // Sample the daemon while it is flooded.
        let sampler = s.spawn(|| {
            let mut peak = (0u64, 0u64);
            while !stop.load(Ordering::Acquire) {
                let (rss, th) = proc_status(pid);
                peak = (peak.0.max(rss), peak.1.max(th));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        let workers: Vec<_> = (0..opts.threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let env = envelope(Request::Status);
                    let mut local: BTreeMap<String, u64> = BTreeMap::new();
                    let mut errs: BTreeMap<String, u64> = BTreeMap::new();
                    while next.fetch_add(1, Ordering::Relaxed) < opts.connections {
                        let r =
                            dial(&paths)
                                .map_err(|e| format!("connect: {e}"))
                                .and_then(|mut st| {
                                    frame::write(&mut st, &env)
                                        .map_err(|e| format!("send: {e}"))?;
                                    let body: serde_json::Value =
                                        frame::read(&mut st, frame::MAX_REPLY)
                                            .map_err(|e| format!("reply: {e}"))?;
                                    Ok(code_of_value(&body))
                                });
                        match r {
                            Ok(code) => *local.entry(code).or_default() += 1,
                            Err(e) => *errs.entry(e).or_default() += 1,
                        }
                    }
                    if let Ok(mut g) = replies.lock() {
                        for (k, v) in local {
                            *g.entry(k).or_default() += v;
                        }
                    }
                    if let Ok(mut g) = errors.lock() {
                        for (k, v) in errs {
                            *g.entry(k).or_default() += v;
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        stop.store(true, Ordering::Release);
        if let Ok(p) = sampler.join() {
            peak = p;
        }
    });
    let wall = t.elapsed().as_secs_f64();
    let (rss1, threads1) = proc_status(pid);
    let anon1 = rss_anon(pid);
    let mut later = Vec::new();
    for _ in 0..opts.settle_secs {
        std::thread::sleep(Duration::from_secs(1));
        later.push(proc_status(pid));
    }
    let anon2 = rss_anon(pid);
    let (rss2, threads2) = later.last().copied().unwrap_or((rss1, threads1));
    let replies = replies.lock().map(|r| r.clone()).unwrap_or_default();
    let errors = errors.lock().map(|r| r.clone()).unwrap_or_default();
    let ok = replies.get("ok").copied().unwrap_or(0);
    let failed: u64 = errors.values().sum();
    let join = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{v}x {k}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    say(
        json,
        &format!(
            "load-flood: {} connections from {} threads in {wall:.2} s ({:.0}/s): {ok} ok, replies {}, {failed} failed{}",
            opts.connections,
            opts.threads,
            opts.connections as f64 / wall.max(1e-9),
            join(&replies),
            if failed > 0 {
                format!(" ({})", join(&errors))
            } else {
                String::new()
            }
        ),
    );
    say(
        json,
        &format!(
            "load-flood: daemon RSS before {rss0} KiB ({threads0} threads), peak {} KiB ({} threads), right after {rss1} KiB ({threads1} threads), {} s later {rss2} KiB ({threads2} threads); RssAnon {anon0} / {anon1} / {anon2} KiB; each second: {}",
            peak.0,
            peak.1,
            opts.settle_secs,
            later
                .iter()
                .map(|(r, _)| r.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    if json {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("load-flood"));
        m.insert("connections".into(), json!(opts.connections));
        m.insert("threads".into(), json!(opts.threads));
        m.insert("secs".into(), json!((wall * 1000.0).round() / 1000.0));
        m.insert(
            "per_sec".into(),
            json!((opts.connections as f64 / wall.max(1e-9)).round() as u64),
        );
        m.insert("ok".into(), json!(ok));
        m.insert("replies".into(), json!(join(&replies)));
        m.insert("failed".into(), json!(failed));
        m.insert("failures".into(), json!(join(&errors)));
        m.insert("rss_before_kib".into(), json!(rss0));
        m.insert("threads_before".into(), json!(threads0));
        m.insert("rss_peak_kib".into(), json!(peak.0));
        m.insert("threads_peak".into(), json!(peak.1));
        m.insert("rss_after_kib".into(), json!(rss1));
        m.insert("threads_after".into(), json!(threads1));
        m.insert("rss_later_kib".into(), json!(rss2));
        m.insert("anon_before_kib".into(), json!(anon0));
        m.insert("anon_after_kib".into(), json!(anon1));
        m.insert("anon_later_kib".into(), json!(anon2));
        m.insert("threads_later".into(), json!(threads2));
        m.insert("settle_secs".into(), json!(opts.settle_secs));
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
