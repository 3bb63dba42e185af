//! `broker`: a brokered call through the warm daemon against the same request made directly,
//! with the same HTTP client configuration, to the same loopback HTTPS upstream. Samples are
//! interleaved (direct, brokered, direct, …) so both sides see the same machine state.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use kovra_client::Client;
use kovra_proto::{ApiRequest, Reply, Request, Response};
use serde_json::json;

use crate::stats::Summary;
use crate::{envelope, paths, say};

pub struct Options<'a> {
    pub upstream: std::net::SocketAddr,
    pub ca: &'a Path,
    /// The credential the direct request sends (the same value the vault holds).
    pub secret_file: &'a Path,
    pub iterations: usize,
    pub warmup: usize,
}

/// The benchmark's custom provider (`bench/broker.sh` adds it) and its only host.
const PROVIDER: &str = "bench";
const URL: &str = "https://api.bench.test/v1/bench";

fn direct(client: &reqwest::blocking::Client, bearer: &str) -> anyhow::Result<()> {
    let resp = client
        .get(URL)
        .header("authorization", bearer)
        .send()
        .context("direct request")?;
    if !resp.status().is_success() {
        bail!("direct request answered {}", resp.status());
    }
    let body = resp.bytes().context("direct body")?;
    std::hint::black_box(body);
    Ok(())
}

fn brokered(client: &mut Client, env: &kovra_proto::Envelope) -> anyhow::Result<()> {
    match client.call(env).context("api request")? {
        Response::Ok { reply } => match *reply {
            Reply::Api(r) if r.status == 200 => Ok(()),
            Reply::Api(r) => bail!("brokered request answered {}", r.status),
            other => bail!("unexpected reply {other:?}"),
        },
        Response::Error(e) => bail!("the daemon answered {}: {}", e.code, e.message),
        Response::NeedsProof { .. } => bail!("the benchmark record needs a proof"),
    }
}

pub fn run(o: &Options<'_>, json: bool) -> anyhow::Result<()> {
    let ca_pem = std::fs::read(o.ca).context("reading the CA")?;
    let secret = std::fs::read_to_string(o.secret_file).context("reading the secret")?;
    let bearer = format!("Bearer {}", secret.trim_end());
    let http = kovra_broker::call::client(Some(&kovra_broker::TestUpstream {
        addr: o.upstream,
        ca_pem,
    }))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let paths = paths()?;
    let mut daemon = crate::roundtrip::connect(&paths)?;
    let env = envelope(Request::Api(Box::new(ApiRequest {
        provider: PROVIDER.into(),
        method: "GET".into(),
        path: "/v1/bench".into(),
        query: Vec::new(),
        headers: Vec::new(),
        body_base64: None,
        secret: None,
        env_name: None,
        timeout_secs: None,
        proof: None,
    })));
    for _ in 0..o.warmup {
        direct(&http, &bearer)?;
        brokered(&mut daemon, &env)?;
    }
    let mut d = Vec::with_capacity(o.iterations);
    let mut b = Vec::with_capacity(o.iterations);
    for _ in 0..o.iterations {
        let t = Instant::now();
        direct(&http, &bearer)?;
        d.push(t.elapsed());
        let t = Instant::now();
        brokered(&mut daemon, &env)?;
        b.push(t.elapsed());
    }
    let (sd, sb) = (Summary::of(&d), Summary::of(&b));
    let overhead = sb.p50 - sd.p50;
    say(json, &sd.line("direct HTTPS request (same client config)"));
    say(json, &sb.line("brokered via the daemon (warm)"));
    say(
        json,
        &format!(
            "broker overhead at p50: {overhead:.0} µs ({:.2} ms)",
            overhead / 1000.0
        ),
    );
    if json {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), json!("broker"));
        sd.insert_into(&mut m, "direct");
        sb.insert_into(&mut m, "brokered");
        m.insert("overhead_p50_us".into(), json!(overhead.round()));
        println!("{}", serde_json::Value::Object(m));
    }
    Ok(())
}
