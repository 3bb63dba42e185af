//! Test fixtures: an HTTPS upstream on loopback (its own rcgen CA, h1 and h2), a recording
//! Judge, providers of every auth kind, and a `curl` driver.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kovra_broker::registry::{Auth, Capability, Charset, PlaceholderSpec, Provider};
use kovra_proxy::{Ca, Egress, Judge, Misuse, Proxy, RunGrant, Swap, TestUpstream, Use};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use zeroize::Zeroizing;

pub const HOSTS: [&str; 6] = [
    "api.example.test",
    "hdr.example.test",
    "q.example.test",
    "git.example.test",
    "tg.example.test",
    "other.example.test",
];

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub version: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// Everything, as text, for "does the value appear anywhere" checks.
    pub fn all(&self) -> String {
        let mut s = format!("{} {}?{}\n", self.method, self.path, self.query);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str(&String::from_utf8_lossy(&self.body));
        s
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// The HTTPS test upstream. It stops with its runtime when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    /// The same routes over plain HTTP, for forwarding under `Egress::Open`.
    pub plain_addr: SocketAddr,
    pub ca_pem: Vec<u8>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn bytes_body(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|n| match n {}).boxed_unsync()
}

async fn handle(req: Request<Incoming>, seen: Arc<Mutex<Vec<Seen>>>) -> Response<Body> {
    let method = req.method().to_string();
    let version = format!("{:?}", req.version());
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut incoming = req.into_body();
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    body.extend_from_slice(&d);
                }
            }
            Err(_) => break,
        }
    }
    let record = Seen {
        method,
        version,
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
        body: body.clone(),
    };
    seen.lock().unwrap().push(record.clone());
    let mut builder = Response::builder().status(200);
    if path.ends_with("/redirect") {
        return builder
            .status(302)
            .header("location", "https://other.example.test/landing")
            .body(bytes_body("moved"))
            .unwrap();
    }
    if path.ends_with("/sse") {
        let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(1);
        tokio::spawn(async move {
            for i in 0..5 {
                if tx
                    .send_data(Bytes::from(format!("data: event {i}\n\n")))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        return builder
            .header("content-type", "text/event-stream")
            .body(rx.boxed_unsync())
            .unwrap();
    }
    if path.ends_with("/big") {
        let chunk = "0123456789abcdef".repeat(256 * 1024);
        return builder.body(bytes_body(chunk)).unwrap();
    }
    if path.ends_with("/gzip") {
        return builder
            .header("content-encoding", "gzip")
            .body(bytes_body(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0]))
            .unwrap();
    }
    if path.ends_with("/partial") {
        // The first half of whatever credential came in, as a range of a larger body.
        let cred = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let half = cred[..cred.len() / 2].to_string();
        return builder
            .status(206)
            .header("content-range", format!("bytes 0-{}/999", half.len()))
            .body(bytes_body(half))
            .unwrap();
    }
    if path.ends_with("/challenge") {
        return builder
            .status(401)
            .header("www-authenticate", "Basic realm=\"git\"")
            .header("set-cookie", "session=abc")
            .body(bytes_body("auth needed"))
            .unwrap();
    }
    // Echo: the request's headers and body, and a few headers that must not reach the child.
    let mut text = format!("{} {path}?{query}\n", record.method);
    for (k, v) in &headers {
        text.push_str(&format!("{k}: {v}\n"));
        if k == "authorization" || k == "x-api-key" {
            builder = builder.header("x-echo-auth", v.as_str());
        }
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&body));
    builder
        .header("set-cookie", "session=abc")
        .header("www-authenticate", format!("Bearer echo=\"{query}\""))
        .body(bytes_body(text))
        .unwrap()
}

impl Upstream {
    pub fn start() -> Upstream {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test upstream CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(HOSTS.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .unwrap();
        leaf_params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(handle(req, seen).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        let plain = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let plain_addr = plain.local_addr().unwrap();
        let seen3 = seen.clone();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = plain.accept().await else {
                    continue;
                };
                let seen = seen3.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(handle(req, seen).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            plain_addr,
            ca_pem: ca_cert.pem().into_bytes(),
            seen,
            rt: Some(rt),
        }
    }

    pub fn test(&self) -> TestUpstream {
        TestUpstream {
            addr: self.addr,
            ca_pem: self.ca_pem.clone(),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_any(&self, needle: &str) -> bool {
        self.seen().iter().any(|s| s.all().contains(needle))
    }
}

/// Records what the proxy reports; refuses swaps while `deny` is set.
#[derive(Default)]
pub struct TestJudge {
    pub misuses: Mutex<Vec<Misuse>>,
    pub uses: Mutex<Vec<Use>>,
    pub deny: Mutex<Option<String>>,
}

impl Judge for TestJudge {
    fn may_swap(&self, _run: u64, _swap: &Swap, _host: &str) -> Result<(), String> {
        match self.deny.lock().unwrap().clone() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }
    fn misuse(&self, event: &Misuse) {
        self.misuses.lock().unwrap().push(event.clone());
    }
    fn used(&self, event: &Use) {
        self.uses.lock().unwrap().push(event.clone());
    }
}

pub fn provider(name: &str, host: &str, auth: Auth) -> Provider {
    Provider {
        name: name.into(),
        title: name.into(),
        docs: None,
        secrets: vec![format!(
            "{}_KEY",
            name.to_ascii_uppercase().replace('-', "_")
        )],
        hosts: vec![host.into()],
        default_host: None,
        auth,
        headers: BTreeMap::new(),
        rate_limit: None,
        placeholder: Some(PlaceholderSpec {
            prefix: "sk-".into(),
            charset: Charset::Alnum,
            length: 32,
            base_url_variable: Some("TEST_BASE_URL".into()),
            base_url_path: "/v1".into(),
        }),
        capabilities: vec![Capability {
            methods: vec!["GET".into(), "POST".into()],
            paths: vec!["/".into()],
            description: None,
        }],
    }
}

pub fn bearer() -> Provider {
    provider("bearer", "api.example.test", Auth::Bearer)
}
pub fn header() -> Provider {
    provider(
        "header",
        "hdr.example.test",
        Auth::Header {
            name: "x-api-key".into(),
            template: "{secret}".into(),
        },
    )
}
pub fn query() -> Provider {
    provider(
        "query",
        "q.example.test",
        Auth::Query {
            param: "key".into(),
        },
    )
}
pub fn basic() -> Provider {
    provider(
        "basic",
        "git.example.test",
        Auth::Basic {
            username: "x".into(),
            password: "{secret}".into(),
        },
    )
}
pub fn path() -> Provider {
    provider(
        "path",
        "tg.example.test",
        Auth::Path {
            prefix: "/bot{secret}".into(),
        },
    )
}

/// A swap with a fresh placeholder; `value` is the canary the child must never see.
pub fn swap(provider: Provider, value: &str) -> Swap {
    let placeholder = kovra_proxy::mint_placeholder(&provider.placeholder());
    Swap {
        placeholder,
        value: Zeroizing::new(value.as_bytes().to_vec()),
        variable: provider.secrets[0].clone(),
        coordinate: format!("secret:dev/test/{}", provider.name),
        provider,
        host: None,
    }
}

pub fn grant(id: u64, token: &str, egress: Egress, swaps: Vec<Swap>) -> RunGrant {
    RunGrant {
        id,
        token: Zeroizing::new(token.into()),
        egress,
        swaps,
    }
}

/// A proxy in front of a fresh upstream, and a CA bundle file for curl.
pub struct Fixture {
    pub upstream: Upstream,
    pub judge: Arc<TestJudge>,
    pub proxy: Proxy,
    pub bundle: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn fixture() -> Fixture {
    let upstream = Upstream::start();
    let judge = Arc::new(TestJudge::default());
    let ca: Ca = kovra_proxy::new_ca().unwrap();
    let proxy = Proxy::start(ca, Some(upstream.test()), judge.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let mut pem = proxy.ca_pem();
    pem.push_str(&String::from_utf8_lossy(&upstream.ca_pem));
    std::fs::write(&bundle, pem).unwrap();
    Fixture {
        upstream,
        judge,
        proxy,
        bundle,
        _dir: dir,
    }
}

impl Fixture {
    /// Register run 1 (token `tok`, open egress) with one swap of `provider` for `value`;
    /// the placeholder.
    pub fn one_run(&self, provider: Provider, value: &str) -> String {
        let s = swap(provider, value);
        let ph = s.placeholder.clone();
        self.proxy.register(grant(1, "tok", Egress::Open, vec![s]));
        ph
    }

    /// curl (h2, through run `tok`) GETs `https://api.example.test` + `path` with
    /// `Authorization: Bearer ph`.
    pub fn bearer_get(&self, ph: &str, path: &str) -> Curl {
        let auth = format!("Authorization: Bearer {ph}");
        let url = format!("https://api.example.test{path}");
        self.curl(Some("tok"), false, &["-H", &auth, &url])
    }
}

/// What curl printed: the body, the status, the CONNECT status and its exit code.
#[derive(Debug)]
pub struct Curl {
    pub body: String,
    pub status: u16,
    pub connect_status: u16,
    pub code: i32,
}

/// A curl with none of the machine's preset CA or proxy variables (pitfall 8).
pub fn curl_cmd() -> Command {
    let mut c = Command::new("curl");
    for v in [
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        c.env_remove(v);
    }
    c.args([
        "-sS",
        "--max-time",
        "20",
        "-w",
        "\n%{http_code} %{http_connect}",
    ]);
    c
}

pub fn run_curl(mut c: Command) -> Curl {
    let out = c.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut codes = tail
        .split_whitespace()
        .map(|s| s.parse::<u16>().unwrap_or(0));
    Curl {
        body: body.to_string(),
        status: codes.next().unwrap_or(0),
        connect_status: codes.next().unwrap_or(0),
        code: out.status.code().unwrap_or(-1),
    }
}

impl Fixture {
    /// curl through the proxy with `token`, trusting the bundle.
    pub fn curl(&self, token: Option<&str>, h1: bool, args: &[&str]) -> Curl {
        let mut c = curl_cmd();
        let proxy = match token {
            Some(t) => self.proxy.proxy_url(t).to_string(),
            None => format!("http://{}", self.proxy.addr()),
        };
        c.arg("-x").arg(proxy).arg("--cacert").arg(&self.bundle);
        if h1 {
            c.arg("--http1.1");
        }
        c.args(args);
        run_curl(c)
    }

    pub fn misuses(&self) -> Vec<Misuse> {
        self.judge.misuses.lock().unwrap().clone()
    }

    pub fn uses(&self) -> Vec<Use> {
        self.judge.uses.lock().unwrap().clone()
    }
}
