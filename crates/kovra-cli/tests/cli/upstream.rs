//! A real HTTPS upstream on loopback for the broker and egress tests: a test CA and a leaf
//! for every provider host, made here with the `openssl` CLI, and
//! `tests/support/https_upstream.py` serving with it and logging every request it got.
//! Shared by the `cli` suite (`broker`) and the `containment` suite.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

use crate::harness::{describe, support_dir};

/// Host names the test certificate covers besides every built-in provider's.
pub const EXTRA_HOSTS: &[&str] = &[
    "api.openai.com",
    "api.anthropic.com",
    "api.github.com",
    "api.telegram.org",
    "generativelanguage.googleapis.com",
    "api.internal.test",
    "second.test",
];

// ---------------------------------------------------------------------------------------
// Test PKI
// ---------------------------------------------------------------------------------------

pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", describe(&out));
}

/// `openssl req LEAD... -new` with a fresh P-256 key (unencrypted), then `REST...`.
fn new_p256_key_request(dir: &Path, lead: &[&str], rest: &[&str]) {
    let mut args = vec!["req"];
    args.extend_from_slice(lead);
    args.extend_from_slice(&[
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ]);
    args.extend_from_slice(rest);
    openssl(dir, &args);
}

/// Every host named in a built-in provider file (`hosts`, `default_host`), wildcards included.
fn builtin_hosts() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kovra-broker/providers");
    let mut hosts = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return hosts;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let mut in_hosts = false;
        for line in text.lines() {
            let t = line.trim_start();
            let starts = t.starts_with("hosts") || t.starts_with("default_host");
            if starts || in_hosts {
                let t = t.split('#').next().unwrap_or("");
                for (i, part) in t.split('"').enumerate() {
                    if i % 2 == 1 && !part.is_empty() {
                        hosts.push(part.to_string());
                    }
                }
                in_hosts = if starts {
                    t.starts_with("hosts") && !t.contains(']')
                } else {
                    !t.contains(']')
                };
            }
        }
    }
    hosts
}

/// A CA (CA:TRUE) and a leaf it signed (CA:FALSE, serverAuth) for every provider host and
/// 127.0.0.1 / 127.0.0.2. `tag` keeps two PKIs in one directory apart.
pub fn make_pki(dir: &Path, tag: &str) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let ca = format!("{tag}-ca.pem");
    let ca_key = format!("{tag}-ca.key");
    let key = format!("{tag}-leaf.key");
    let csr = format!("{tag}-leaf.csr");
    let cert = format!("{tag}-leaf.pem");
    let ext = format!("{tag}-leaf.ext");
    new_p256_key_request(
        dir,
        &["-x509"],
        &[
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            &format!("/CN=kovra broker test CA {tag}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    new_p256_key_request(
        dir,
        &[],
        &[
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=kovra broker test upstream",
        ],
    );
    let mut names: Vec<String> = EXTRA_HOSTS.iter().map(|s| s.to_string()).collect();
    names.extend(builtin_hosts());
    names.sort();
    names.dedup();
    let san = names
        .iter()
        .map(|n| format!("DNS:{n}"))
        .chain(["IP:127.0.0.1".to_string(), "IP:127.0.0.2".to_string()])
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(
        dir.join(&ext),
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName={san}\n"
        ),
    )
    .unwrap();
    let mut serial = [0u8; 8];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut serial,
    )
    .unwrap();
    serial[0] &= 0x7f;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-set_serial",
            &format!("0x{}", hex::encode(serial)),
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    Pki {
        ca: dir.join(ca),
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

// ---------------------------------------------------------------------------------------
// The upstream
// ---------------------------------------------------------------------------------------

pub struct Upstream {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    log: PathBuf,
}

impl Upstream {
    pub fn start(bind: &str, pki: &Pki, log: PathBuf, redirect_port: Option<u16>) -> Upstream {
        let script = support_dir().join("https_upstream.py");
        let mut c = Command::new("python3");
        c.arg(script)
            .args(["--bind", bind, "--timeout", "120"])
            .arg("--cert")
            .arg(&pki.cert)
            .arg("--key")
            .arg(&pki.key)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(p) = redirect_port {
            c.args(["--redirect-port", &p.to_string()]);
        }
        let mut child = c.spawn().expect("python3");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("upstream on {bind} did not start: {line:?}"));
        Upstream {
            child,
            stdin,
            port,
            log,
        }
    }

    /// Every request it received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.requests().len()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of request header `name` (lower-case) in a logged request.
pub fn req_header(req: &Value, name: &str) -> Option<String> {
    req["headers"]
        .as_array()?
        .iter()
        .find(|kv| kv[0].as_str() == Some(name))
        .and_then(|kv| kv[1].as_str().map(str::to_string))
}
