//! `redact` and `redact-fixture`: throughput of the streaming redactor.
//!
//! - `redact` builds a [`Redactor`] over N random values (as the daemon does for a
//!   `kovra run`), generates a stream of log-like text in memory with a few real occurrences
//!   of those values sprinkled in (plain, base64 standard and URL-safe at every alignment,
//!   hex in both cases, URL-encoded, JSON-escaped), and feeds it to one
//!   [`kovra_redact::Stream`] in 256 KiB reads landing in its window (`spare`, `commit`),
//!   exactly as `kovra-daemon/src/run.rs: relay` does. The same bytes are also copied into
//!   an output buffer without redaction, as the floor any relay pays. Generation is not
//!   timed.
//! - `redact-fixture` makes what the end-to-end benchmark (`kovra run -- cat FILE`) needs:
//!   a vault home holding the values as low-sensitivity records (written through
//!   kovra-core, as `populate` does), a refs file injecting all of them, and a file of the
//!   same kind of text with occurrences of those values in it.
//!
//! Every occurrence the generator inserts must come out as one `[kovra:NAME]` marker. The
//! generated text never contains `[`, so counting `[` in the output counts the markers; a
//! mismatch is reported (a benchmark of a redactor that misses values would be meaningless).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use kovra_core::coord::Coordinate;
use kovra_core::crypto::KdfParams;
use kovra_core::model::{Metadata, Sensitivity, VaultName};
use kovra_core::store::{LockedStore, now};
use kovra_redact::Redactor;
use serde_json::json;
use zeroize::Zeroizing;

use crate::populate::{entry, filesystem_of, read_passphrase};
use crate::say;

/// How the daemon reads a child's output (`kovra-daemon/src/run.rs: READ_CHUNK`).
pub const DAEMON_READ: usize = 256 * 1024;
/// Text is generated, and occurrences are scheduled, one block of this size at a time.
const BLOCK: usize = 1 << 20;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// splitmix64: fast, good enough to make text and values, and reproducible with `--seed`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: Option<u64>) -> anyhow::Result<Rng> {
        let seed = match seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
                u64::from_le_bytes(b)
            }
        };
        Ok(Rng(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Punctuation a generated password may hold: enough that URL-encoding and JSON escaping
/// change the value (`/`, `+`, `%`, `"`, `\`, space…), never `[` (the marker counter).
const PUNCT: &[u8] = b"-_.~!@#$%^&*()+=/:;,?\"\\ ";

/// A random value of `min..=max` printable ASCII bytes: mostly alphanumeric, about one
/// character in five punctuation. Never begins or ends with a space.
pub fn random_value(rng: &mut Rng, min: usize, max: usize) -> Zeroizing<Vec<u8>> {
    let len = min + rng.below(max.saturating_sub(min) + 1);
    let mut v = Zeroizing::new(Vec::with_capacity(len));
    for i in 0..len {
        let edge = i == 0 || i + 1 == len;
        let b = if !edge && rng.below(5) == 0 {
            rng.pick(PUNCT)
        } else {
            rng.pick(ALNUM)
        };
        v.push(b);
    }
    v
}

/// The variable name of value `i` in the refs file and in the markers.
pub fn var_name(i: usize) -> String {
    format!("BENCH_V{i:03}")
}

/// The coordinate of value `i` in the fixture vault.
pub fn coordinate(i: usize) -> String {
    format!("secret:dev/bench/value-{i:03}")
}

/// The ways the generator writes an occurrence of a value into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Base64,
    Base64Url,
    HexLower,
    HexUpper,
    Url,
    Json,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Plain,
        Kind::Base64,
        Kind::Base64Url,
        Kind::HexLower,
        Kind::HexUpper,
        Kind::Url,
        Kind::Json,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Base64 => "base64",
            Kind::Base64Url => "base64url",
            Kind::HexLower => "hex",
            Kind::HexUpper => "HEX",
            Kind::Url => "url",
            Kind::Json => "json",
        }
    }
}

fn hex(value: &[u8], digits: &[u8; 16]) -> Vec<u8> {
    value
        .iter()
        .flat_map(|b| [digits[(b >> 4) as usize], digits[(b & 15) as usize]])
        .collect()
}

/// `application/x-www-form-urlencoded`-style: unreserved bytes kept, space as `+`.
fn url_encode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 3);
    for &b in value {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
    out
}

/// An occurrence line for `value`, as a program might print it.
fn occurrence(rng: &mut Rng, kind: Kind, value: &[u8], out: &mut Vec<u8>) {
    let ts = timestamp(rng.below(86_400_000) as u64);
    out.extend_from_slice(ts.as_bytes());
    match kind {
        Kind::Plain => {
            out.extend_from_slice(b" DEBUG app::config: loaded settings password=");
            out.extend_from_slice(value);
        }
        Kind::Base64 | Kind::Base64Url => {
            // Basic auth: base64("user:" + value); the user name's length moves the value to
            // each of the three alignments inside the encoded text.
            let user: &[u8] = [&b"app"[..], b"svc1", b"admin"][rng.below(3)];
            let mut raw = Zeroizing::new(user.to_vec());
            raw.push(b':');
            raw.extend_from_slice(value);
            let encoded = Zeroizing::new(if kind == Kind::Base64 {
                STANDARD.encode(raw.as_slice())
            } else {
                URL_SAFE.encode(raw.as_slice())
            });
            out.extend_from_slice(b" TRACE http::client: > Authorization: Basic ");
            out.extend_from_slice(encoded.as_bytes());
        }
        Kind::HexLower | Kind::HexUpper => {
            let digits = if kind == Kind::HexLower {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            out.extend_from_slice(b" DEBUG wire: payload hex=");
            out.extend_from_slice(&Zeroizing::new(hex(value, digits)));
        }
        Kind::Url => {
            out.extend_from_slice(b" INFO  db::pool: connecting to postgres://app:");
            out.extend_from_slice(&Zeroizing::new(url_encode(value)));
            out.extend_from_slice(b"@db.internal:5432/app?sslmode=require");
        }
        Kind::Json => {
            // The value is ASCII text by construction.
            let text = String::from_utf8_lossy(value);
            let quoted = Zeroizing::new(serde_json::to_string(text.as_ref()).unwrap_or_default());
            out.extend_from_slice(b" {\"level\":\"debug\",\"msg\":\"env dump\",\"DB_PASSWORD\":");
            out.extend_from_slice(quoted.as_bytes());
            out.push(b'}');
        }
    }
    out.push(b'\n');
}

/// `2026-11-23T05:40:12.345Z` for a millisecond of the day.
fn timestamp(ms: u64) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("2026-11-23T{h:02}:{m:02}:{s:02}.{f:03}Z")
}

const METHODS: [&str; 5] = ["GET", "GET", "POST", "PUT", "DELETE"];
const PATHS: [&str; 8] = [
    "/api/v1/users",
    "/api/v1/orders",
    "/api/v2/search",
    "/healthz",
    "/static/app.js",
    "/api/v1/sessions",
    "/graphql",
    "/api/v1/invoices",
];
const WORDS: [&str; 24] = [
    "request",
    "completed",
    "cache",
    "miss",
    "for",
    "user",
    "session",
    "refreshed",
    "token",
    "queue",
    "depth",
    "worker",
    "retrying",
    "after",
    "timeout",
    "the",
    "connection",
    "was",
    "reset",
    "by",
    "peer",
    "scheduled",
    "job",
    "finished",
];

/// One ordinary log line: HTTP access lines, SQL, JSON logs, warnings and prose, with
/// request ids in hex (which start many hex patterns, as real logs do). Never holds `[`.
fn ordinary_line(rng: &mut Rng, out: &mut Vec<u8>) {
    let ts = timestamp(rng.below(86_400_000) as u64);
    let r = rng.next_u64();
    let line = match rng.below(6) {
        0 | 1 => format!(
            "{ts} INFO  http::access: {} {}/{} -> {} in {}.{}ms req_id={:016x} peer=10.0.{}.{}:{}",
            rng.pick(&METHODS),
            rng.pick(&PATHS),
            r % 100_000,
            [200, 200, 200, 201, 204, 304, 404, 500][rng.below(8)],
            rng.below(900),
            rng.below(10),
            rng.next_u64(),
            rng.below(256),
            rng.below(256),
            1024 + rng.below(60_000),
        ),
        2 => format!(
            "{ts} DEBUG sqlx::query: SELECT id, name, email, created_at FROM users WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT {}; rows={} elapsed={}.{:03}ms",
            [20, 50, 100][rng.below(3)],
            rng.below(100),
            rng.below(20),
            rng.below(1000),
        ),
        3 => format!(
            "{{\"ts\":\"{ts}\",\"level\":\"info\",\"target\":\"cache\",\"msg\":\"cache {}\",\"key\":\"session:{:08x}\",\"ttl\":{},\"span\":{{\"trace_id\":\"{:032x}\"}}}}",
            ["hit", "miss", "evict"][rng.below(3)],
            r as u32,
            rng.below(7200),
            (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
        ),
        4 => format!(
            "{ts} WARN  worker{{job=email-digest id={}}}: retrying after timeout (attempt {}/5): connection reset by peer",
            r % 10_000,
            1 + rng.below(5),
        ),
        _ => {
            let mut s = format!("{ts} INFO  app:");
            for _ in 0..(6 + rng.below(12)) {
                s.push(' ');
                s.push_str(rng.pick(&WORDS));
            }
            s
        }
    };
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

/// Makes the text, one [`BLOCK`] at a time, from a pool of pre-generated lines (so that
/// generation runs near memcpy speed), with `per_block` occurrence lines at random places.
pub struct TextGen<'v> {
    rng: Rng,
    pool: Vec<Vec<u8>>,
    values: &'v [Zeroizing<Vec<u8>>],
    per_block: usize,
    next_kind: usize,
    next_value: usize,
    /// Occurrences inserted so far, per [`Kind::ALL`] entry.
    pub inserted: [u64; 7],
}

impl<'v> TextGen<'v> {
    pub fn new(mut rng: Rng, values: &'v [Zeroizing<Vec<u8>>], per_block: usize) -> TextGen<'v> {
        let pool = (0..16_384)
            .map(|_| {
                let mut l = Vec::with_capacity(160);
                ordinary_line(&mut rng, &mut l);
                l
            })
            .collect();
        TextGen {
            rng,
            pool,
            values,
            per_block,
            next_kind: 0,
            next_value: 0,
            inserted: [0; 7],
        }
    }

    pub fn total_inserted(&self) -> u64 {
        self.inserted.iter().sum()
    }

    /// Fill `out` (cleared first) with exactly `len` bytes of text. The block is cut at
    /// `len`, wherever that falls inside a line, as a pipe would cut it.
    pub fn block(&mut self, len: usize, out: &mut Vec<u8>) {
        out.clear();
        // Where (in bytes) this block's occurrences go; only if the block is long enough
        // to hold them whole.
        let mut at: Vec<usize> = if self.values.is_empty() || len < 4096 {
            Vec::new()
        } else {
            (0..self.per_block)
                .map(|_| self.rng.below(len - 2048))
                .collect()
        };
        at.sort_unstable();
        let mut at = at.into_iter().peekable();
        while out.len() < len {
            if at.peek().is_some_and(|&p| out.len() >= p) {
                at.next();
                let k = self.next_kind % Kind::ALL.len();
                let value = &self.values[self.next_value % self.values.len()];
                occurrence(&mut self.rng, Kind::ALL[k], value, out);
                self.inserted[k] += 1;
                // Occurrence n is value n mod V in kind n mod 7: with V coprime to 7 (100
                // is), every value shows up in every kind within 7V occurrences.
                self.next_kind += 1;
                self.next_value += 1;
            } else {
                let line = &self.pool[self.rng.below(self.pool.len())];
                out.extend_from_slice(line);
            }
        }
        out.truncate(len);
    }
}

fn values_for(rng: &mut Rng, count: usize, min: usize, max: usize) -> Vec<Zeroizing<Vec<u8>>> {
    (0..count).map(|_| random_value(rng, min, max)).collect()
}

fn redactor_for(values: &[Zeroizing<Vec<u8>>]) -> Redactor {
    let names: Vec<String> = (0..values.len()).map(var_name).collect();
    Redactor::new(
        names
            .iter()
            .zip(values)
            .map(|(n, v)| (n.as_str(), v.as_slice())),
    )
}

fn count_markers(buf: &[u8]) -> u64 {
    buf.iter().filter(|&&b| b == b'[').count() as u64
}

fn rate(bytes: u64, d: Duration) -> (f64, f64) {
    let s = d.as_secs_f64().max(1e-9);
    (bytes as f64 / s / 1e9, bytes as f64 / s / GIB)
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub struct Options {
    pub bytes: u64,
    pub values: usize,
    pub min_len: usize,
    pub max_len: usize,
    pub per_mib: usize,
    pub read: usize,
    pub seed: Option<u64>,
}

/// The in-process benchmark.
pub fn run(o: &Options, json: bool) -> anyhow::Result<()> {
    if o.read == 0 || o.min_len > o.max_len {
        bail!("--read must be positive and --min-len at most --max-len");
    }
    let mut rng = Rng::new(o.seed)?;
    let values = values_for(&mut rng, o.values, o.min_len, o.max_len);
    let t = Instant::now();
    let redactor = redactor_for(&values);
    let build = t.elapsed();
    let patterns = redactor.pattern_count();
    say(
        json,
        &format!(
            "redact: {} values of {}..={} bytes -> {patterns} patterns ({:.1} per value), built in {:.1} ms",
            o.values,
            o.min_len,
            o.max_len,
            patterns as f64 / o.values.max(1) as f64,
            build.as_secs_f64() * 1e3
        ),
    );
    let mut text = TextGen::new(Rng(rng.next_u64()), &values, o.per_mib);

    let mut input = Vec::with_capacity(BLOCK);
    let mut out = Vec::with_capacity(BLOCK + BLOCK / 8);
    let mut copy = Vec::with_capacity(BLOCK);
    let mut masked = Vec::new();
    let mut stream = redactor.stream();
    let (mut t_redact, mut t_copy, mut t_gen) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut done, mut out_bytes, mut markers, mut max_held) = (0u64, 0u64, 0u64, 0usize);
    let progress = (o.bytes / 4).max(1);
    let mut next_progress = progress;
    while done < o.bytes {
        let len = (o.bytes - done).min(BLOCK as u64) as usize;
        let tg = Instant::now();
        text.block(len, &mut input);
        t_gen += tg.elapsed();

        // The daemon's relay: each read lands in the stream's window (the copy stands for
        // read(2)'s), and `commit` gives what is safe to write, from the window or from
        // `masked`. Here the block's output accumulates so the markers can be counted
        // afterwards; that copy (write(2)'s, in the daemon) is not timed.
        out.clear();
        for read in input.chunks(o.read) {
            let t0 = Instant::now();
            stream.spare(read.len()).copy_from_slice(read);
            let emitted = std::hint::black_box(stream.commit(read.len(), &mut masked));
            t_redact += t0.elapsed();
            out.extend_from_slice(emitted);
            max_held = max_held.max(stream.held());
        }
        out_bytes += out.len() as u64;
        markers += count_markers(&out);
        std::hint::black_box(&out);

        // The floor: the same reads copied out unchanged.
        copy.clear();
        let t1 = Instant::now();
        for read in input.chunks(o.read) {
            copy.extend_from_slice(std::hint::black_box(read));
        }
        t_copy += t1.elapsed();
        std::hint::black_box(&copy);

        done += len as u64;
        if done >= next_progress && done < o.bytes {
            eprintln!(
                "redact: {:.0}/{:.0} MiB",
                done as f64 / MIB,
                o.bytes as f64 / MIB
            );
            next_progress += progress;
        }
    }
    out.clear();
    let t0 = Instant::now();
    stream.finish(&mut out);
    t_redact += t0.elapsed();
    out_bytes += out.len() as u64;
    markers += count_markers(&out);
    // Wipe what the text held (values inside occurrences) before it is freed.
    zeroize::Zeroize::zeroize(&mut input);
    zeroize::Zeroize::zeroize(&mut copy);

    let inserted = text.total_inserted();
    let (gbs, gibs) = rate(o.bytes, t_redact);
    let (copy_gbs, copy_gibs) = rate(o.bytes, t_copy);
    let per_kind: Vec<String> = Kind::ALL
        .iter()
        .zip(text.inserted)
        .map(|(k, n)| format!("{} {n}", k.label()))
        .collect();
    say(
        json,
        &format!(
            "redact: {:.0} MiB in {}-byte reads: {:.3} s -> {gbs:.3} GB/s ({gibs:.3} GiB/s)",
            o.bytes as f64 / MIB,
            o.read,
            t_redact.as_secs_f64()
        ),
    );
    say(
        json,
        &format!(
            "redact: plain copy of the same reads: {:.3} s -> {copy_gbs:.2} GB/s ({copy_gibs:.2} GiB/s); redaction is {:.1}x the copy",
            t_copy.as_secs_f64(),
            t_redact.as_secs_f64() / t_copy.as_secs_f64().max(1e-9)
        ),
    );
    let ok = markers == inserted;
    say(
        json,
        &format!(
            "redact: occurrences inserted {inserted} ({}), markers out {markers}{}; max held back {max_held} bytes; text generation (untimed) {:.2} s",
            per_kind.join(", "),
            if ok { "" } else { " -- MISMATCH" },
            t_gen.as_secs_f64()
        ),
    );
    if !ok {
        eprintln!(
            "redact: WARNING: {inserted} occurrences were inserted but {markers} markers came out"
        );
    }
    if json {
        println!(
            "{}",
            json!({
                "kind": "redact",
                "bytes": o.bytes,
                "values": o.values,
                "patterns": patterns,
                "read_bytes": o.read,
                "build_ms": r3(build.as_secs_f64() * 1e3),
                "redact_secs": r3(t_redact.as_secs_f64()),
                "redact_gbs": r3(gbs),
                "redact_gibs": r3(gibs),
                "copy_secs": r3(t_copy.as_secs_f64()),
                "copy_gbs": r3(copy_gbs),
                "copy_gibs": r3(copy_gibs),
                "occurrences": inserted,
                "markers": markers,
                "markers_ok": ok,
                "output_bytes": out_bytes,
                "max_held": max_held,
            })
        );
    }
    Ok(())
}

pub struct Fixture<'a> {
    pub home: &'a Path,
    pub passphrase_file: &'a Path,
    pub refs: &'a Path,
    pub file: &'a Path,
    pub bytes: u64,
    pub values: usize,
    pub min_len: usize,
    pub max_len: usize,
    pub per_mib: usize,
    pub seed: Option<u64>,
}

/// The end-to-end fixture: a vault holding the values, a refs file, a text file.
pub fn fixture(f: &Fixture<'_>, json: bool) -> anyhow::Result<()> {
    let passphrase = read_passphrase(f.passphrase_file)?;
    if LockedStore::exists(f.home) {
        bail!(
            "{} already holds a vault; the fixture needs a fresh home",
            f.home.display()
        );
    }
    let mut rng = Rng::new(f.seed)?;
    let values = values_for(&mut rng, f.values, f.min_len, f.max_len);

    let mut store = LockedStore::create(f.home, &passphrase, KdfParams::default())
        .with_context(|| format!("creating a vault at {}", f.home.display()))?;
    store
        .create_vault(&VaultName::Global, entry("init", None))
        .context("creating the global vault")?;
    let mut refs = String::from("# kovra-bench redact-fixture: every value, injected\n");
    for (i, value) in values.iter().enumerate() {
        let coord = Coordinate::parse(&coordinate(i)).context("building a coordinate")?;
        let stamp = now();
        let meta = Metadata {
            coordinate: coord.clone(),
            sensitivity: Sensitivity::Low,
            revealable: false,
            description: format!("redaction benchmark value {i}"),
            created: stamp,
            updated: stamp,
            version: 0,
            totp: None,
            provider: None,
            provider_host: None,
            ssh_key: None,
            database: None,
        };
        store
            .put(
                &VaultName::Global,
                meta,
                Some(value),
                entry("add", Some(&coord)),
            )
            .with_context(|| format!("writing {coord}"))?;
        refs.push_str(&format!("{}={}\n", var_name(i), coordinate(i)));
    }
    drop(store);
    std::fs::write(f.refs, refs).with_context(|| format!("writing {}", f.refs.display()))?;

    let t = Instant::now();
    let file =
        std::fs::File::create(f.file).with_context(|| format!("creating {}", f.file.display()))?;
    let mut w = std::io::BufWriter::with_capacity(BLOCK, file);
    let mut text = TextGen::new(Rng(rng.next_u64()), &values, f.per_mib);
    let mut block = Vec::with_capacity(BLOCK);
    let mut done = 0u64;
    while done < f.bytes {
        let len = (f.bytes - done).min(BLOCK as u64) as usize;
        text.block(len, &mut block);
        w.write_all(&block)
            .with_context(|| format!("writing {}", f.file.display()))?;
        done += len as u64;
    }
    w.flush()
        .with_context(|| format!("writing {}", f.file.display()))?;
    zeroize::Zeroize::zeroize(&mut block);
    let patterns = redactor_for(&values).pattern_count();
    let fs = filesystem_of(f.file)
        .map(|(t, _)| t)
        .unwrap_or_else(|| "unknown".into());
    say(
        json,
        &format!(
            "redact-fixture: {} low records in {}, refs {}, {:.0} MiB of text at {} ({fs}) with {} occurrences, {patterns} patterns; wrote the text in {:.2} s",
            f.values,
            f.home.display(),
            f.refs.display(),
            f.bytes as f64 / MIB,
            f.file.display(),
            text.total_inserted(),
            t.elapsed().as_secs_f64()
        ),
    );
    if json {
        println!(
            "{}",
            json!({
                "kind": "redact-fixture",
                "bytes": f.bytes,
                "values": f.values,
                "patterns": patterns,
                "occurrences": text.total_inserted(),
                "filesystem": fs,
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_occurrence_becomes_one_marker() -> anyhow::Result<()> {
        let mut rng = Rng::new(Some(7))?;
        let values = values_for(&mut rng, 10, 24, 40);
        let redactor = redactor_for(&values);
        let mut text = TextGen::new(Rng(1), &values, 40);
        let mut block = Vec::new();
        let mut out = Vec::new();
        let mut stream = redactor.stream();
        for _ in 0..4 {
            text.block(BLOCK, &mut block);
            assert_eq!(block.len(), BLOCK);
            for read in block.chunks(DAEMON_READ) {
                stream.push(read, &mut out);
            }
        }
        stream.finish(&mut out);
        assert_eq!(text.total_inserted(), 160);
        assert!(text.inserted.iter().all(|&n| n > 0));
        assert_eq!(count_markers(&out), text.total_inserted());
        for v in &values {
            assert!(!out.windows(v.len()).any(|w| w == v.as_slice()));
        }
        Ok(())
    }

    #[test]
    fn values_are_printable_and_bounded() -> anyhow::Result<()> {
        let mut rng = Rng::new(Some(3))?;
        for _ in 0..200 {
            let v = random_value(&mut rng, 24, 40);
            assert!((24..=40).contains(&v.len()));
            assert!(v.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
            assert!(!v.contains(&b'['));
            assert_ne!(v.first(), Some(&b' '));
            assert_ne!(v.last(), Some(&b' '));
        }
        Ok(())
    }
}
