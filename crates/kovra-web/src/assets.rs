//! The pages, script and style, compiled into the binary and served by exact path from a
//! fixed table: no file is opened, so no path can reach outside it (`/static/../x` is just
//! a path the table does not hold). No third-party asset, no inline script or style.

use std::sync::OnceLock;

use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::guard::error;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const PROOF_JS: &str = include_str!("../assets/proof.js");
const APP_CSS: &str = include_str!("../assets/app.css");
/// The pages added after the first: where records are used, agents, providers, 2FA.
const PAGES_JS: &str = include_str!("../assets/pages.js");
/// docs/errors.md, for its table of policy reason codes (§4): the audit page's "why".
const ERRORS_MD: &str = include_str!("../../../docs/errors.md");

pub(crate) const LOGIN_REFUSED: &str = include_str!("../assets/login-refused.html");
pub(crate) const LOGIN_FAILED: &str = include_str!("../assets/login-failed.html");

/// The UI's page paths: one document, whose script shows the part the path names.
const PAGES: &[&str] = &[
    "/",
    "/records",
    "/add",
    "/audit",
    "/approvals",
    "/providers",
    "/agents",
    "/passkeys",
    "/2fa",
];

pub(crate) fn page(status: StatusCode, html: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// `{"reason-code": "meaning", …}` from the §4 table of docs/errors.md, built once.
fn reasons_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut map = serde_json::Map::new();
        let table = ERRORS_MD
            .split("## 4. Policy reason codes")
            .nth(1)
            .unwrap_or_default();
        for line in table.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "| `code` | answer | meaning |" splits into ["", code, answer, meaning, ""].
            if let [_, code, _answer, meaning, ..] = cells[..]
                && let Some(code) = code.strip_prefix('`').and_then(|c| c.strip_suffix('`'))
            {
                map.insert(code.into(), meaning.replace('`', "").into());
            }
        }
        serde_json::Value::Object(map).to_string()
    })
}

/// The fallback route: a page, a static file, or 404.
pub(crate) async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") {
        return error(StatusCode::NOT_FOUND, "web-not-found", "no such API route");
    }
    if method != Method::GET && method != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "web-method-refused",
            "pages and files are only read",
        );
    }
    let (kind, body): (&str, &'static str) = match path {
        p if PAGES.contains(&p) => ("text/html; charset=utf-8", INDEX),
        "/static/app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "/static/proof.js" => ("text/javascript; charset=utf-8", PROOF_JS),
        "/static/app.css" => ("text/css; charset=utf-8", APP_CSS),
        "/static/pages.js" => ("text/javascript; charset=utf-8", PAGES_JS),
        "/static/reasons.json" => ("application/json", reasons_json()),
        _ => return error(StatusCode::NOT_FOUND, "web-not-found", "no such page"),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reason_table_is_read_from_the_docs() {
        let json: serde_json::Value = serde_json::from_str(super::reasons_json()).unwrap();
        let map = json.as_object().unwrap();
        assert!(map.len() > 30, "{}", map.len());
        assert!(
            map["inject-only"]
                .as_str()
                .unwrap()
                .contains("never revealed")
        );
    }
}
