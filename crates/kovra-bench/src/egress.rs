//! `egress-client`: run by `kovra run` as an agent's child (`bench/egress.sh`), it times the
//! same HTTPS request made straight to the upstream and through the run's egress proxy, in
//! one process, interleaved (direct, proxied, direct, …), over keep-alive connections.
//!
//! The two legs use one client configuration. The only differences are the ones a real
//! program sees: the direct leg resolves the provider's host to the upstream, trusts the test
//! CA and sends the real value; the proxied leg uses the run's `HTTPS_PROXY` (with the run's
//! proxy credential) and the run's CA bundle (`SSL_CERT_FILE`: the system's roots plus
//! kovra's CA), and sends the placeholder it found in its environment.
//!
//! Then it streams a large body (`/v1/stream?bytes=N`) both ways, interleaved, and reports
//! the throughput.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::blocking::Client;
use serde_json::json;

use crate::say;
use crate::stats::Summary;

pub struct Options<'a> {
    pub upstream: SocketAddr,
    /// The upstream's CA (PEM), trusted by the direct leg only.
    pub ca: &'a Path,
    /// The value the vault holds: sent by the direct leg.
    pub secret_file: &'a Path,
    /// The variable holding the placeholder (and naming the record).
    pub var: &'a str,
    /// The provider host the requests are for.
    pub host: &'a str,
    pub iterations: usize,
    pub warmup: usize,
    pub stream_bytes: u64,
    pub stream_runs: usize,
}

/// Everything but the route: the same for both legs.
fn builder() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .https_only(true)
        .referer(false)
        .user_agent("kovra-bench")
        .connect_timeout(Duration::from_secs(10))
        .timeout(None)
        .pool_idle_timeout(Duration::from_secs(300))
}

fn direct_client(o: &Options<'_>) -> anyhow::Result<Client> {
    let pem = std::fs::read(o.ca).context("reading the test CA")?;
    let ca = reqwest::Certificate::from_pem(&pem).context("parsing the test CA")?;
    builder()
        .no_proxy()
        .tls_certs_only([ca])
        .resolve(o.host, o.upstream)
        .build()
        .context("building the direct client")
}

fn proxied_client() -> anyhow::Result<Client> {
    let proxy = std::env::var("HTTPS_PROXY").context("HTTPS_PROXY is not set: not a kovra run")?;
    let bundle = std::env::var_os("SSL_CERT_FILE").context("SSL_CERT_FILE is not set")?;
    let pem = std::fs::read(&bundle).context("reading the run's CA bundle")?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).context("parsing the CA bundle")?;
    builder()
        .proxy(reqwest::Proxy::https(&proxy).context("the proxy URL")?)
        .tls_certs_only(certs)
        .build()
        .context("building the proxied client")
}

struct Leg {
    client: Client,
    bearer: String,
    protocols: std::collections::BTreeMap<String, usize>,
}

impl Leg {
    fn send(&mut self, url: &str) -> anyhow::Result<reqwest::blocking::Response> {
        let resp = self
            .client
            .get(url)
            .header("authorization", &self.bearer)
            .send()
            .with_context(|| format!("GET {url}"))?;
        if !resp.status().is_success() {
            bail!("GET {url} answered {}", resp.status());
        }
        let proto = resp
            .headers()
            .get("x-bench-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_string();
        *self.protocols.entry(proto).or_default() += 1;
        Ok(resp)
    }

    fn ping(&mut self, url: &str) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let body = self.send(url)?.bytes().context("reading the body")?;
        let elapsed = t.elapsed();
        std::hint::black_box(body);
        Ok(elapsed)
    }

    /// Time to the last byte of a streamed body, checking its length.
    fn stream(&mut self, url: &str, bytes: u64, buf: &mut [u8]) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let mut resp = self.send(url)?;
        let mut got = 0u64;
        loop {
            let n = resp.read(buf).context("reading the stream")?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        let elapsed = t.elapsed();
        if got != bytes {
            bail!("the stream had {got} bytes, not {bytes}");
        }
        Ok(elapsed)
    }

    fn protocols(&self) -> String {
        self.protocols
            .iter()
            .map(|(p, n)| format!("{p} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Nearest-rank percentile, in microseconds (`Summary` has p50/p90/p99; the target is p95).
fn p95(samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (0.95 * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .map(|d| d.as_secs_f64() * 1e6)
        .unwrap_or(0.0)
}

fn line(label: &str, s: &Summary, p95: f64) -> String {
    format!(
        "{label}: n={} p50={:.1}us p95={p95:.1}us p99={:.1}us mean={:.1}us min={:.1}us max={:.1}us",
        s.n, s.p50, s.p99, s.mean, s.min, s.max
    )
}

fn mb_per_s(bytes: u64, times: &[Duration]) -> f64 {
    let total: f64 = times.iter().map(Duration::as_secs_f64).sum();
    if total == 0.0 {
        return 0.0;
    }
    bytes as f64 * times.len() as f64 / total / 1e6
}

pub fn run(o: &Options<'_>, json: bool) -> anyhow::Result<()> {
    let secret = std::fs::read_to_string(o.secret_file).context("reading the secret")?;
    let secret = secret.trim_end();
    let placeholder = std::env::var(o.var).with_context(|| format!("{} is not set", o.var))?;
    if placeholder == secret {
        bail!(
            "{} holds the value, not a placeholder: is this an agent's run?",
            o.var
        );
    }
    let mut direct = Leg {
        client: direct_client(o)?,
        bearer: format!("Bearer {secret}"),
        protocols: Default::default(),
    };
    let mut proxied = Leg {
        client: proxied_client()?,
        bearer: format!("Bearer {placeholder}"),
        protocols: Default::default(),
    };
    let ping = format!("https://{}/v1/ping", o.host);

    for _ in 0..o.warmup {
        direct.ping(&ping)?;
        proxied.ping(&ping)?;
    }
    let mut d = Vec::with_capacity(o.iterations);
    let mut p = Vec::with_capacity(o.iterations);
    for _ in 0..o.iterations {
        d.push(direct.ping(&ping)?);
        p.push(proxied.ping(&ping)?);
    }
    let (sd, sp) = (Summary::of(&d), Summary::of(&p));
    let (d95, p95v) = (p95(&d), p95(&p));
    let overhead = sp.p50 - sd.p50;
    say(json, &line("direct HTTPS request (keep-alive)", &sd, d95));
    say(
        json,
        &line("through the egress proxy (keep-alive)", &sp, p95v),
    );
    say(
        json,
        &format!(
            "proxy overhead: p50 +{overhead:.0} µs ({:.3} ms), p95 +{:.0} µs, mean +{:.0} µs",
            overhead / 1000.0,
            p95v - d95,
            sp.mean - sd.mean
        ),
    );

    let mut m = serde_json::Map::new();
    m.insert("kind".into(), json!("egress"));
    let r = |x: f64| (x * 10.0).round() / 10.0;
    sd.insert_into(&mut m, "direct");
    sp.insert_into(&mut m, "proxied");
    m.insert("direct_p95_us".into(), json!(r(d95)));
    m.insert("proxied_p95_us".into(), json!(r(p95v)));
    m.insert("overhead_p50_us".into(), json!(r(overhead)));

    if o.stream_runs > 0 {
        let url = format!("https://{}/v1/stream?bytes={}", o.host, o.stream_bytes);
        let mut buf = vec![0u8; 256 * 1024];
        // One untimed stream each first.
        direct.stream(&url, o.stream_bytes, &mut buf)?;
        proxied.stream(&url, o.stream_bytes, &mut buf)?;
        let mut sd = Vec::with_capacity(o.stream_runs);
        let mut sp = Vec::with_capacity(o.stream_runs);
        for _ in 0..o.stream_runs {
            sd.push(direct.stream(&url, o.stream_bytes, &mut buf)?);
            sp.push(proxied.stream(&url, o.stream_bytes, &mut buf)?);
        }
        let (dm, pm) = (mb_per_s(o.stream_bytes, &sd), mb_per_s(o.stream_bytes, &sp));
        let ms = |v: &[Duration]| {
            v.iter()
                .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let ratio = if dm > 0.0 { pm / dm } else { 0.0 };
        say(
            json,
            &format!(
                "stream {} bytes, direct: {dm:.0} MB/s (runs, ms: {})",
                o.stream_bytes,
                ms(&sd)
            ),
        );
        say(
            json,
            &format!(
                "stream {} bytes, through the proxy: {pm:.0} MB/s (runs, ms: {})",
                o.stream_bytes,
                ms(&sp)
            ),
        );
        say(json, &format!("stream throughput ratio: {ratio:.2}"));
        m.insert("stream_bytes".into(), json!(o.stream_bytes));
        m.insert("stream_runs".into(), json!(o.stream_runs));
        m.insert("stream_direct_mb_s".into(), json!(r(dm)));
        m.insert("stream_proxied_mb_s".into(), json!(r(pm)));
        m.insert(
            "stream_ratio".into(),
            json!((ratio * 1000.0).round() / 1000.0),
        );
    }
    say(
        json,
        &format!(
            "HTTP version at the upstream: direct {}; proxied {}",
            direct.protocols(),
            proxied.protocols()
        ),
    );
    m.insert("direct_protocols".into(), json!(direct.protocols()));
    m.insert("proxied_protocols".into(), json!(proxied.protocols()));
    if json {
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
