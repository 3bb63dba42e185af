//! The loopback listener: proxy authentication, `CONNECT` (intercepted, tunnelled or
//! refused), absolute-form plain HTTP, and base-URL requests (`/kovra/TOKEN/PROVIDER/...`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};

use crate::Judge;
use crate::Place;
use crate::auth::proxy_token;
use crate::body::{Body, boxed, empty};
use crate::ca::{ForHost, Minter};
use crate::forward::{misuse, pinned, plain};
use crate::response::{proxy_auth_required, text};
use crate::runs::{Run, Runs};
use crate::scan::contains;
use crate::upstream::{HttpsClient, PlainClient};

/// Everything a connection needs, for the proxy's life.
pub(crate) struct Shared {
    pub(crate) runs: Runs,
    pub(crate) minter: Minter,
    pub(crate) judge: Arc<dyn Judge>,
    /// Towards pinned hosts: HTTP/1.1, and (for requests the child sent over h2) h2 by ALPN.
    pub(crate) https: HttpsClient,
    pub(crate) https_h2: HttpsClient,
    pub(crate) plain: PlainClient,
    pub(crate) addr: SocketAddr,
}

pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, bound: Option<u64>) {
    let me = crate::peer::my_uid();
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        // Only our own user: a bound listener asks for no credential, and a credential is no
        // secret from other users once it is in a file (`kovra agent env` prints a profile's,
        // fixed for the daemon's life, in base URLs for dotenv files).
        let local = stream.local_addr().ok();
        let theirs = local.and_then(|l| crate::peer::peer_uid(l, peer));
        if theirs.is_none() || theirs != me {
            tracing::warn!(uid = ?theirs, bound = bound.is_some(), "refused a connection of another user");
            continue;
        }
        // Small writes (a response head, then its body) must not wait for delayed ACKs.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_one(shared.clone(), stream, bound));
    }
}

/// A listener bound to grant `bound` on a unix socket (a sandbox's way out).
pub(crate) async fn accept_unix(shared: Arc<Shared>, listener: UnixListener, bound: u64) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_one(shared.clone(), stream, Some(bound)));
    }
}

async fn serve_one<S>(shared: Arc<Shared>, stream: S, bound: Option<u64>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(outer(shared, bound, req).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades()
        .await;
}

/// Whose a request is: the run its token names (on a bound listener, the bound grant when
/// it names none), and the bound grant, whose egress holds as well.
struct Asker {
    run: Arc<Run>,
    floor: Option<Arc<Run>>,
}

impl Asker {
    /// Whether a host no swap of the run pins may be reached.
    fn may_reach(&self, host: &str) -> bool {
        self.run.egress.allows_unpinned(host)
            && self
                .floor
                .as_ref()
                .is_none_or(|f| f.egress.allows_unpinned(host))
    }
}

fn authenticate(shared: &Shared, bound: Option<u64>, req: &Request<Incoming>) -> Option<Asker> {
    let floor = match bound {
        // A bound listener whose grant ended serves nobody.
        Some(id) => Some(shared.runs.by_id(id)?),
        None => None,
    };
    let run = match proxy_token(req.headers()) {
        Some(token) => shared.runs.by_token(&token)?,
        None => floor.clone()?,
    };
    Some(Asker { run, floor })
}

/// Whether `authority` names this proxy itself.
fn is_self(shared: &Shared, authority: &http::uri::Authority) -> bool {
    let port = shared.addr.port();
    authority.port_u16() == Some(port)
        && matches!(
            authority.host(),
            "127.0.0.1" | "localhost" | "[::1]" | "::1"
        )
}

async fn outer(shared: Arc<Shared>, bound: Option<u64>, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::CONNECT {
        return connect(shared, bound, req).await;
    }
    let authority = req.uri().authority().cloned();
    match authority {
        Some(a) if !is_self(&shared, &a) => {
            let Some(asker) = authenticate(&shared, bound, &req) else {
                return proxy_auth_required();
            };
            let run = &asker.run;
            if req.uri().scheme_str() != Some("http") {
                return text(
                    StatusCode::BAD_REQUEST,
                    "only http:// URLs go in absolute form",
                );
            }
            let host = a.host().to_ascii_lowercase();
            let req = req.map(boxed);
            if run.pins(&host) {
                // A value never travels in plaintext: a pinned host is always reached by TLS.
                let path = req.uri().path().to_string();
                let query = req.uri().query().map(str::to_string);
                pinned(shared, run.id, host, req, path, query).await
            } else {
                // Through a bound listener, never the machine's own addresses (refused after
                // the misuse scan, as any host outside the egress).
                let open = asker.may_reach(&host)
                    && (asker.floor.is_none()
                        || reachable(&host, a.port_u16().unwrap_or(80), true)
                            .await
                            .is_ok());
                plain(shared, run.id, open, host, req).await
            }
        }
        _ => base_url(shared, req.map(boxed)).await,
    }
}

/// `/kovra/TOKEN/PROVIDER/REST`: the token in the path is the credential.
async fn base_url(shared: Arc<Shared>, req: Request<Body>) -> Response<Body> {
    let not_found = || text(StatusCode::NOT_FOUND, "not found");
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/kovra/") else {
        return not_found();
    };
    let mut it = rest.splitn(3, '/');
    let (Some(token), Some(name)) = (it.next(), it.next()) else {
        return not_found();
    };
    let tail = format!("/{}", it.next().unwrap_or(""));
    let Some(run) = shared.runs.by_token(token.as_bytes()) else {
        return not_found();
    };
    let Some(swap) = run.swaps.iter().find(|s| s.provider.name == name) else {
        return not_found();
    };
    let host = swap
        .host
        .clone()
        .unwrap_or_else(|| swap.provider.host().to_string());
    let query = req.uri().query().map(str::to_string);
    pinned(shared, run.id, host, req, tail, query).await
}

async fn connect(
    shared: Arc<Shared>,
    bound: Option<u64>,
    req: Request<Incoming>,
) -> Response<Body> {
    let Some(asker) = authenticate(&shared, bound, &req) else {
        return proxy_auth_required();
    };
    let run = &asker.run;
    let Some(authority) = req.uri().authority().cloned() else {
        return text(StatusCode::BAD_REQUEST, "CONNECT needs host:port");
    };
    let host = authority.host().to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(443);
    // Host names are case-insensitive: a client may have lower-cased the placeholder.
    let target = authority.as_str().to_ascii_lowercase();
    for l in shared.runs.live().iter() {
        let ph = l.placeholder().to_ascii_lowercase();
        if contains(target.as_bytes(), ph.as_bytes()) {
            return misuse(&shared, Some(run.id), l, &host, Place::ConnectTarget);
        }
    }
    if port == 443 && run.pins(&host) {
        let run_id = run.id;
        tokio::spawn(intercept(shared, run_id, host, req));
        return Response::new(empty());
    }
    if !asker.may_reach(&host) {
        return text(
            StatusCode::FORBIDDEN,
            &format!(
                "{host} is outside this run's egress policy (its providers' hosts and any listed domains)"
            ),
        );
    }
    let targets = match reachable(&host, port, asker.floor.is_some()).await {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let upstream = match TcpStream::connect(&targets[..]).await {
        Ok(s) => {
            let _ = s.set_nodelay(true);
            s
        }
        Err(_) => {
            return text(
                StatusCode::BAD_GATEWAY,
                &format!("{host} could not be reached"),
            );
        }
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let mut client = TokioIo::new(upgraded);
            let mut upstream = upstream;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    Response::new(empty())
}

/// The addresses `host:port` resolves to. Through a bound listener (a sandbox, a profile's
/// port) none may be the machine's own (loopback, unspecified, link-local): a sandbox has no
/// route to the host's services, and a listed domain that resolves there must not give it
/// one. The tunnel then connects to exactly these addresses (no second lookup to rebind).
async fn reachable(
    host: &str,
    port: u16,
    bounded: bool,
) -> Result<Vec<std::net::SocketAddr>, Response<Body>> {
    let unreachable = || {
        text(
            StatusCode::BAD_GATEWAY,
            &format!("{host} could not be reached"),
        )
    };
    // An IPv6 literal comes bracketed in an authority.
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| unreachable())?
        .collect();
    if !bounded {
        return if found.is_empty() {
            Err(unreachable())
        } else {
            Ok(found)
        };
    }
    let local = |a: &std::net::SocketAddr| match a.ip() {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_unspecified() || v4.is_link_local() || v4.is_broadcast()
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
    };
    let outside: Vec<std::net::SocketAddr> = found.iter().copied().filter(|a| !local(a)).collect();
    if outside.is_empty() && !found.is_empty() {
        return Err(text(
            StatusCode::FORBIDDEN,
            &format!(
                "{host} is this machine's own address; a sandbox never reaches the host's services"
            ),
        ));
    }
    if outside.is_empty() {
        return Err(unreachable());
    }
    Ok(outside)
}

/// Terminate the child's TLS with a leaf for the CONNECT host and serve h1 or h2 inside;
/// every request goes to that host, whatever its own Host or :authority says.
async fn intercept(shared: Arc<Shared>, run_id: u64, host: String, req: Request<Incoming>) {
    let Ok(upgraded) = hyper::upgrade::on(req).await else {
        return;
    };
    let leaf = shared.minter.leaf(&host);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) =
        rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return;
    };
    let mut config = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ForHost {
            host: host.clone(),
            leaf,
        }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let Ok(tls) = acceptor.accept(TokioIo::new(upgraded)).await else {
        return;
    };
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let host = host.clone();
        async move {
            let path = req.uri().path().to_string();
            let query = req.uri().query().map(str::to_string);
            let resp = pinned(shared, run_id, host, req.map(boxed), path, query).await;
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await;
}
