//! The routes. Each API route is one daemon request, answered with the daemon's own response
//! document (`docs/protocol.md` §6): `200` for `ok`, `403` for `needs-proof`, `422` for an
//! `error`. What the server refuses itself (no session, a body too large, malformed JSON, an
//! unknown route) is answered with the same document shape and a `web-…` code.
// A refusal is the handler's response itself, built once per request: boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kovra_proto::{Charset, Reply, Request, Secret, Sensitivity};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::guard::{self, error};
use crate::sessions::{Login, Who};
use crate::{Shared, assets};

const COOKIE: &str = "kovra_ui";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let max_body = shared.config.max_body;
    Router::new()
        .route("/login/{token}", get(login))
        .route("/api/status", get(status))
        .route("/api/records", get(records))
        .route("/api/history", get(history))
        .route("/api/add", post(add))
        .route("/api/generate", post(generate))
        .route("/api/edit", post(edit))
        .route("/api/audit", get(audit))
        .route("/api/approvals", get(approvals))
        .route("/api/providers", get(providers))
        .route("/api/agents", get(agents))
        .route("/api/lock", post(lock))
        .route("/api/usage", get(usage))
        .route("/api/2fa", get(two_factor))
        .route("/api/sessions", get(web_sessions))
        .route("/api/logout", post(logout))
        .route("/api/ask", post(crate::prove::ask))
        .fallback(assets::serve)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(Arc::clone(&shared), guard::check))
        .layer(map_response(guard::secure_headers))
        .with_state(shared)
}

/// The session cookie's value, when the request carries exactly one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        for pair in value.to_str().ok()?.split(';') {
            if let Some((name, v)) = pair.trim().split_once('=')
                && name == COOKIE
            {
                if found.is_some() {
                    return None;
                }
                found = Some(v.to_string());
            }
        }
    }
    found
}

pub(crate) fn session(shared: &Shared, headers: &HeaderMap) -> Result<Who, Response> {
    cookie(headers)
        .and_then(|c| shared.sessions.check(&c, shared.backend.epoch()))
        .ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "web-not-logged-in",
                "no live session: run `kovra ui` for a new login link",
            )
        })
}

/// Replies that hold a value or a seed: the routes never ask for one, and none is ever
/// forwarded, whatever the daemon answered.
fn carries_value(reply: &Reply) -> bool {
    matches!(
        reply,
        Reply::Revealed { .. }
            | Reply::Code { .. }
            | Reply::RecoveryKit { .. }
            | Reply::TwoFactorSetup { .. }
    )
}

/// Send one request to the daemon for this session and answer with its response.
pub(crate) async fn call(
    shared: Arc<Shared>,
    headers: HeaderMap,
    project: Option<String>,
    request: Request,
) -> Response {
    let who = match session(&shared, &headers) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let backend = Arc::clone(&shared.backend);
    let answered = tokio::task::spawn_blocking(move || backend.call(&who, project, request)).await;
    let Ok(response) = answered else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "web-internal",
            "the daemon's handler failed",
        );
    };
    let status = match &response {
        kovra_proto::Response::Ok { reply } if carries_value(reply) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "web-internal",
                "the web UI never shows values",
            );
        }
        kovra_proto::Response::Ok { .. } => StatusCode::OK,
        kovra_proto::Response::NeedsProof { .. } => StatusCode::FORBIDDEN,
        kovra_proto::Response::Error(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    match serde_json::to_vec(&response) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from(body),
        )
            .into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "web-internal",
            "cannot encode the reply",
        ),
    }
}

/// A JSON body of type `T`, or the error that says what was wrong with it. The message
/// names the position and the kind of fault, never a piece of the body (which may hold a
/// value typed into the page).
pub(crate) fn body<T: for<'de> Deserialize<'de>>(
    bytes: Result<Bytes, BytesRejection>,
) -> Result<T, Response> {
    let bytes = bytes.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is larger than this server accepts (64 KiB)"
        } else {
            "the request body could not be read"
        };
        error(status, "web-body-refused", message)
    })?;
    // A copy that is wiped when parsed; the HTTP stack's own buffers are not ours to wipe.
    let copy = Zeroizing::new(bytes.to_vec());
    drop(bytes);
    serde_json::from_slice(&copy).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax => "is not valid JSON",
            Category::Eof => "ends before its JSON does",
            Category::Data => "has a missing, unknown or mistyped field for this route",
            Category::Io => "could not be read",
        };
        let message = format!(
            "the request body {what} (line {}, column {})",
            e.line(),
            e.column()
        );
        error(StatusCode::BAD_REQUEST, "web-bad-json", &message)
    })
}

macro_rules! parsed {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(refused) => return refused,
        }
    };
}

async fn login(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    let epoch = shared.backend.epoch();
    let login = match shared.sessions.login(&token, epoch) {
        Ok(login) => login,
        Err(e) => {
            tracing::warn!(error = %e, "web UI login failed");
            return assets::page(StatusCode::INTERNAL_SERVER_ERROR, assets::LOGIN_FAILED);
        }
    };
    match login {
        Login::Session(cookie, who) => {
            shared.backend.login(Some(&who), true);
            let set = format!(
                "{COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path=/",
                *cookie
            );
            let mut response = Redirect::to("/").into_response();
            match HeaderValue::from_str(&set) {
                Ok(v) => {
                    response.headers_mut().insert(header::SET_COOKIE, v);
                    response
                }
                Err(_) => assets::page(StatusCode::INTERNAL_SERVER_ERROR, assets::LOGIN_FAILED),
            }
        }
        Login::Refused => {
            shared.backend.login(None, false);
            assets::page(StatusCode::FORBIDDEN, assets::LOGIN_REFUSED)
        }
    }
}

async fn logout(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(c) = cookie(&headers) {
        shared.sessions.logout(&c);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kovra_ui=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

async fn status(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    call(s, h, None, Request::Status).await
}

async fn approvals(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    call(s, h, None, Request::ApprovalList).await
}

async fn providers(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    call(s, h, None, Request::ProviderList).await
}

async fn agents(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    call(s, h, None, Request::AgentList).await
}

async fn lock(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    call(s, h, None, Request::Lock).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    env: Option<String>,
}

async fn records(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Query(q): Query<RecordsQuery>,
) -> Response {
    call(s, h, None, Request::List { env: q.env }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordQuery {
    coordinate: String,
    project: Option<String>,
}

async fn history(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Query(q): Query<RecordQuery>,
) -> Response {
    let request = Request::History {
        coordinate: q.coordinate,
    };
    call(s, h, q.project, request).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    coordinate: Option<String>,
    action: Option<String>,
    since: Option<u64>,
}

async fn audit(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
    let request = Request::Audit {
        coordinate: nonempty(q.coordinate),
        action: nonempty(q.action),
        since: q.since,
    };
    call(s, h, None, request).await
}

/// `add`: the value arrives once, goes to the daemon as a [`Secret`], and is never echoed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    coordinate: String,
    value: String,
    project: Option<String>,
    sensitivity: Option<Sensitivity>,
    description: Option<String>,
}

async fn add(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let b: AddBody = parsed!(body(bytes));
    let request = Request::Add {
        coordinate: b.coordinate,
        value: Secret::from(Zeroizing::new(b.value.into_bytes())),
        sensitivity: b.sensitivity,
        description: b.description.filter(|d| !d.is_empty()),
        revealable: false,
        totp: false,
        provider: None,
        ssh_key: false,
        key_passphrase: None,
        hosts: Vec::new(),
        database: None,
    };
    call(s, h, b.project, request).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateBody {
    coordinate: String,
    length: u32,
    project: Option<String>,
    charset: Option<Charset>,
    sensitivity: Option<Sensitivity>,
    description: Option<String>,
}

async fn generate(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let b: GenerateBody = parsed!(body(bytes));
    let request = Request::Generate {
        coordinate: b.coordinate,
        length: b.length,
        charset: b.charset.unwrap_or_default(),
        sensitivity: b.sensitivity,
        description: b.description.filter(|d| !d.is_empty()),
        revealable: false,
        overwrite: false,
        provider: None,
        proof: None,
    };
    call(s, h, b.project, request).await
}

/// `edit`: metadata only (a description, a sensitivity); loosening ones need a proof the
/// daemon asks for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    coordinate: String,
    project: Option<String>,
    description: Option<String>,
    sensitivity: Option<Sensitivity>,
}

async fn edit(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let b: EditBody = parsed!(body(bytes));
    let request = Request::Edit {
        coordinate: b.coordinate,
        description: b.description,
        sensitivity: b.sensitivity,
        revealable: None,
        proof: None,
    };
    call(s, h, b.project, request).await
}

/// Where a record was used: the refs files that named it and its last use (paths, never values).
async fn usage(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Query(q): Query<RecordQuery>,
) -> Response {
    let request = Request::Usage {
        coordinate: q.coordinate,
    };
    call(s, h, q.project, request).await
}

/// Whether two-factor is on. Enrolment shows a seed, so it stays at the terminal
/// (`kovra 2fa enable`): `carries_value` refuses a `TwoFactorSetup` reply here anyway.
async fn two_factor(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    call(s, h, None, Request::TwoFactorStatus).await
}

/// The web sessions themselves: the one route answered from this server's own table rather
/// than the daemon, as it is the server's state, not the vault's. Origins and idle seconds;
/// never a token.
async fn web_sessions(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    if let Err(refused) = session(&s, &h) {
        return refused;
    }
    let presented = cookie(&h).unwrap_or_default();
    let sessions: Vec<serde_json::Value> = s
        .sessions
        .live(&presented, s.backend.epoch())
        .into_iter()
        .map(|(origin, idle, yours)| {
            serde_json::json!({ "origin": origin.as_str(), "idle": idle, "current": yours })
        })
        .collect();
    let doc = serde_json::json!({ "status": "ok", "reply": { "sessions": sessions } });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}
