//! The credentialed call: build the URL from the registry (never from the caller), attach the
//! credential, send it without following redirects, and hand back a response with auth
//! headers removed and the credential scrubbed from headers and body.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kovra_redact::Redactor;
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use zeroize::Zeroizing;

use crate::error::BrokerError;
use crate::ratelimit::RateLimiter;
use crate::registry::{Auth, Provider};
use crate::rules::{self, Checked};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
const READ_CHUNK: usize = 64 * 1024;

/// A loopback stand-in for every provider host, with its own CA. Only debug builds of the
/// daemon ever construct one (tests and benchmarks); a release binary has no such switch.
#[derive(Debug, Clone)]
pub struct TestUpstream {
    pub addr: SocketAddr,
    pub ca_pem: Vec<u8>,
}

/// What came back, ready for the caller.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Response headers removed because they carry or solicit credentials.
    pub removed_headers: Vec<String>,
    pub host: String,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub duration: Duration,
}

/// One HTTP client for the daemon's life: connections to providers stay warm between calls.
pub struct Broker {
    client: Client,
    limiter: Mutex<RateLimiter>,
}

/// Routes every name to the test upstream.
struct Loopback(SocketAddr);

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(std::future::ready(Ok(
            Box::new(std::iter::once(addr)) as reqwest::dns::Addrs
        )))
    }
}

/// The HTTP client every brokered call uses: no redirects, no proxy, HTTPS only, and with a
/// test upstream, every name resolved to it and its CA the only root. Public so a benchmark
/// can make the same request directly, with the same client, and isolate kovra's overhead.
pub fn client(test: Option<&TestUpstream>) -> Result<Client, BrokerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(true)
        .referer(false)
        .user_agent(concat!("kovra/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(None)
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(t) = test {
        let ca = reqwest::Certificate::from_pem(&t.ca_pem)
            .map_err(|e| BrokerError::Setup(format!("test CA: {e}")))?;
        builder = builder
            .tls_certs_only([ca])
            .dns_resolver(Arc::new(Loopback(t.addr)));
    }
    builder
        .build()
        .map_err(|e| BrokerError::Setup(e.to_string()))
}

impl Broker {
    pub fn new(test: Option<TestUpstream>) -> Result<Broker, BrokerError> {
        Ok(Broker {
            client: client(test.as_ref())?,
            limiter: Mutex::new(RateLimiter::default()),
        })
    }

    /// Count one call against the provider's rate limit.
    pub fn admit(&self, provider: &Provider) -> Result<(), BrokerError> {
        let limit = provider.rate_limit();
        let mut limiter = self
            .limiter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiter
            .admit(&provider.name, limit, Instant::now())
            .map_err(|retry_after| BrokerError::RateLimited {
                provider: provider.name.clone(),
                requests: limit.requests,
                per_seconds: limit.per_seconds,
                retry_after: retry_after.as_secs().max(1),
            })
    }

    /// Make the call. `host` must be one the provider allows (the daemon passes the
    /// provider's host or the host the record was bound with).
    pub fn call(
        &self,
        provider: &Provider,
        host: &str,
        req: Checked,
        secret: &[u8],
        secret_name: &str,
        timeout: Duration,
    ) -> Result<Outcome, BrokerError> {
        if !provider.allows_host(host) || host.starts_with("*.") {
            return Err(BrokerError::ProviderInvalid {
                name: provider.name.clone(),
                why: format!("host {host} is not one of its hosts"),
            });
        }
        let secret_text = Zeroizing::new(String::from_utf8_lossy(secret).into_owned());
        let auth = render_auth(&provider.auth, &secret_text);
        let url = build_url(provider, host, &req, &auth)?;
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| BrokerError::MethodInvalid(req.method.clone()))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &provider.headers {
            if !req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k))
                && let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
            {
                headers.insert(n, v);
            }
        }
        // The whole body, unencoded: only then can every form of the credential be scrubbed.
        headers.insert(
            reqwest::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        for (k, v) in &req.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|_| BrokerError::HeaderInvalid(format!("name `{k}` is invalid")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| BrokerError::HeaderInvalid(format!("`{k}` has an invalid value")))?;
            headers.append(name, value);
        }
        if let Some((name, value)) = &auth.header {
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                BrokerError::Setup("the credential cannot be sent in a header".into())
            })?;
            v.set_sensitive(true);
            if let Ok(n) = HeaderName::try_from(name.as_str()) {
                headers.insert(n, v);
            }
        }
        let request_bytes = req.request_bytes();
        let mut builder = self
            .client
            .request(method, url)
            .headers(headers)
            .timeout(timeout.min(MAX_TIMEOUT));
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let started = Instant::now();
        let mut response = builder.send().map_err(|e| classify(&e, host, timeout))?;
        let redactor = scrubber(secret_name, &secret_text, &auth);
        let status = response.status().as_u16();
        let encoded = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        let partial = status == 206
            || response
                .headers()
                .contains_key(reqwest::header::CONTENT_RANGE);
        if encoded || partial {
            return Err(BrokerError::ResponseUnscrubbable {
                host: host.to_string(),
                what: if encoded {
                    "compressed (content-encoding)".into()
                } else {
                    "a partial body (range)".into()
                },
            });
        }
        let auth_header = provider.auth.header_name();
        let mut out_headers = Vec::new();
        let mut removed = Vec::new();
        for (name, value) in response.headers() {
            let n = name.as_str();
            if rules::AUTH_RESPONSE_HEADERS.contains(&n)
                || rules::is_auth_class_header(n, auth_header.as_deref())
            {
                if !removed.iter().any(|r| r == n) {
                    removed.push(n.to_string());
                }
                continue;
            }
            if matches!(n, "connection" | "keep-alive" | "transfer-encoding") {
                continue;
            }
            let scrubbed = redactor.redact_all(value.as_bytes());
            let name = redactor.redact_all(n.as_bytes());
            out_headers.push((
                String::from_utf8_lossy(&name).into_owned(),
                String::from_utf8_lossy(&scrubbed).into_owned(),
            ));
        }
        let mut body = Vec::new();
        let mut stream = redactor.stream();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut received = 0usize;
        loop {
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                        || e.to_string().contains("timed out");
                    return Err(if timed_out {
                        BrokerError::Timeout {
                            host: host.to_string(),
                            secs: timeout.as_secs(),
                        }
                    } else {
                        BrokerError::Unreachable {
                            host: host.to_string(),
                            why: "the connection broke while reading the response".into(),
                        }
                    });
                }
            };
            received += n;
            if received > rules::MAX_RESPONSE {
                return Err(BrokerError::ResponseTooLarge {
                    host: host.to_string(),
                    limit: rules::MAX_RESPONSE,
                });
            }
            stream.push(&buf[..n], &mut body);
        }
        stream.finish(&mut body);
        Ok(Outcome {
            status,
            headers: out_headers,
            body,
            removed_headers: removed,
            host: host.to_string(),
            request_bytes,
            response_bytes: received,
            duration: started.elapsed(),
        })
    }
}

/// The credential as it goes on the wire.
struct RenderedAuth {
    header: Option<(String, Zeroizing<String>)>,
    query: Option<(String, Zeroizing<String>)>,
    path_prefix: Option<Zeroizing<String>>,
    /// Every derived form that must never come back (`user:password` for basic auth).
    derived: Vec<Zeroizing<String>>,
}

fn fill(template: &str, secret: &str) -> Zeroizing<String> {
    let (user, password) = secret.split_once(':').unwrap_or((secret, ""));
    Zeroizing::new(
        template
            .replace("{secret.user}", user)
            .replace("{secret.password}", password)
            .replace("{secret}", secret),
    )
}

fn render_auth(auth: &Auth, secret: &str) -> RenderedAuth {
    let mut r = RenderedAuth {
        header: None,
        query: None,
        path_prefix: None,
        derived: Vec::new(),
    };
    match auth {
        Auth::Bearer => {
            r.header = Some((
                "authorization".into(),
                Zeroizing::new(format!("Bearer {secret}")),
            ));
        }
        Auth::Header { name, template } => {
            r.header = Some((name.to_ascii_lowercase(), fill(template, secret)));
        }
        Auth::Query { param } => {
            r.query = Some((param.clone(), Zeroizing::new(secret.to_string())));
        }
        Auth::Basic { username, password } => {
            let pair = Zeroizing::new(format!(
                "{}:{}",
                fill(username, secret).as_str(),
                fill(password, secret).as_str()
            ));
            let encoded =
                Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
            r.header = Some((
                "authorization".into(),
                Zeroizing::new(format!("Basic {}", encoded.as_str())),
            ));
            r.derived.push(pair);
        }
        Auth::Path { prefix } => {
            r.path_prefix = Some(fill(prefix, secret));
        }
    }
    if let Some((user, password)) = secret.split_once(':') {
        r.derived.push(Zeroizing::new(user.to_string()));
        r.derived.push(Zeroizing::new(password.to_string()));
    }
    r
}

/// The redactor for one call: the value, its parts, and what the auth method derived.
fn scrubber(name: &str, secret: &str, auth: &RenderedAuth) -> Redactor {
    let mut values: Vec<&[u8]> = vec![secret.as_bytes()];
    for d in &auth.derived {
        values.push(d.as_bytes());
    }
    if let Some((_, v)) = &auth.header {
        values.push(v.as_bytes());
    }
    Redactor::new(values.into_iter().map(|v| (name, v)))
}

fn build_url(
    provider: &Provider,
    host: &str,
    req: &Checked,
    auth: &RenderedAuth,
) -> Result<url::Url, BrokerError> {
    let prefix = auth.path_prefix.as_ref().map_or("", |p| p.as_str());
    let text = Zeroizing::new(format!("https://{host}{prefix}{}", req.path));
    let mut url = url::Url::parse(&text).map_err(|_| {
        BrokerError::PathInvalid(format!("path `{}` does not form a valid URL", req.path))
    })?;
    // What was checked is what is sent: the URL parser must not have moved anything.
    let expected_path_len = prefix.len() + req.path.len();
    if url.host_str() != Some(host)
        || url.port().is_some()
        || url.path().len() != expected_path_len
        || !url.path().ends_with(req.path.as_str())
    {
        return Err(BrokerError::PathInvalid(format!(
            "path `{}` changes meaning when parsed as a URL",
            req.path
        )));
    }
    if !req.query.is_empty() || auth.query.is_some() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &req.query {
            pairs.append_pair(k, v);
        }
        if let Some((k, v)) = &auth.query {
            pairs.append_pair(k, v);
        }
    }
    let _ = provider;
    Ok(url)
}

/// Name what went wrong without echoing the URL (it can hold the credential).
fn classify(e: &reqwest::Error, host: &str, timeout: Duration) -> BrokerError {
    if e.is_timeout() {
        return BrokerError::Timeout {
            host: host.to_string(),
            secs: timeout.as_secs(),
        };
    }
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string().to_ascii_lowercase());
        chain.push(' ');
        source = s.source();
    }
    if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake") {
        return BrokerError::Tls {
            host: host.to_string(),
            why: "the server's certificate was not accepted".into(),
        };
    }
    let why = if chain.contains("refused") {
        "connection refused"
    } else if chain.contains("dns") || chain.contains("resolve") || chain.contains("lookup") {
        "the name does not resolve"
    } else {
        "the connection failed"
    };
    BrokerError::Unreachable {
        host: host.to_string(),
        why: why.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_scrubs_the_pair_and_its_parts() {
        let auth = Auth::Basic {
            username: "{secret.user}".into(),
            password: "{secret.password}".into(),
        };
        let r = render_auth(&auth, "ACaccount123:tokensecret456");
        let s = scrubber("TWILIO", "ACaccount123:tokensecret456", &r);
        let out = s.redact_all(b"user ACaccount123 token tokensecret456");
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains("ACaccount123") && !text.contains("tokensecret456"),
            "{text}"
        );
    }
}
