//! `/api/ask`: the requests the approvals, grants and passkeys pages send, each with the proof
//! the page gathered for the daemon's `needs-proof` answer (`docs/web.md` "Proofs in the page").
//!
//! The page answers a challenge with a passkey assertion or a two-factor code, which travel
//! to the daemon as they are, or with the vault passphrase typed into the page: that one is
//! turned into the proof MAC here, by the same function the CLI client uses
//! (`kovra_client::session::passphrase_proof`), over the digest of the request this server
//! sends for this session's context; the passphrase itself never reaches the daemon and is
//! wiped when the MAC is made. The resent request is the page's own, unchanged apart from its
//! proof, so its digest is the one the challenge was issued for (`docs/protocol.md` §7.2).
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kovra_proto::{Context, PassphraseChallenge, Proof, Request, Secret, Surface};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Shared;
use crate::api::{body, call, session};
use crate::guard::error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AskBody {
    request: Request,
    project: Option<String>,
    proof: Option<PageProof>,
}

/// What the page gathered for one challenge: exactly one of a passkey assertion, a code, or
/// a passphrase (with the daemon's `answer.passphrase` it answers).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageProof {
    challenge: String,
    passkey: Option<serde_json::Value>,
    code: Option<String>,
    passphrase: Option<String>,
    asked: Option<PassphraseChallenge>,
    program: Option<String>,
}

/// The requests these pages make; anything else has its own route or none.
fn allowed(request: &Request) -> bool {
    matches!(
        request,
        Request::Approve { .. }
            | Request::Deny { .. }
            | Request::GrantList
            | Request::GrantRevoke { .. }
            | Request::PasskeyEnrolBegin { .. }
            | Request::PasskeyEnrolFinish { .. }
            | Request::PasskeyList
            | Request::PasskeyRemove { .. }
    )
}

fn takes_proof(request: &Request) -> bool {
    matches!(
        request,
        Request::Approve { .. } | Request::PasskeyEnrolBegin { .. } | Request::PasskeyRemove { .. }
    )
}

fn refused(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "web-bad-proof", message)
}

pub(crate) async fn ask(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let who = match session(&s, &h) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let AskBody {
        mut request,
        project,
        proof,
    } = match body(bytes) {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    if !allowed(&request) {
        return error(
            StatusCode::BAD_REQUEST,
            "web-bad-json",
            "this route sends approvals, grants and passkey requests only",
        );
    }
    if request.take_proof().is_some() {
        return refused("send the proof beside the request, not inside it");
    }
    if let Some(page) = proof {
        let context = Context {
            surface: Surface::Web,
            origin: who.origin,
            scope: None,
            project: project.clone(),
        };
        let proof = match to_proof(page, &context, &request) {
            Ok(proof) => proof,
            Err(refusal) => return refusal,
        };
        if !takes_proof(&request) {
            return refused("this request takes no proof");
        }
        request.set_proof(proof);
    }
    call(s, h, project, request).await
}

/// The daemon-bound proof for what the page gathered.
fn to_proof(page: PageProof, context: &Context, request: &Request) -> Result<Proof, Response> {
    let PageProof {
        challenge,
        passkey,
        code,
        passphrase,
        asked,
        program,
    } = page;
    let code = code.map(|c| Secret::from(Zeroizing::new(c.into_bytes())));
    let passphrase = passphrase.map(|p| Secret::from(Zeroizing::new(p.into_bytes())));
    match (passkey, code, passphrase) {
        (Some(passkey), None, None) => Ok(Proof {
            challenge,
            mac: None,
            code: None,
            passkey: Some(passkey),
        }),
        (None, Some(code), None) => Ok(Proof {
            challenge,
            mac: None,
            code: Some(code),
            passkey: None,
        }),
        (None, None, Some(passphrase)) => {
            let Some(asked) = asked else {
                return Err(refused(
                    "a passphrase answers only a challenge that offered one (send its `answer.passphrase` as `asked`)",
                ));
            };
            // Sent whether or not the daemon's tag matched, as the CLI does: a mistyped
            // passphrase matches neither, and only the daemon's refusal counts it (back-off).
            // The tag guards the CLI against a process posing as the daemon at its socket;
            // this server runs inside the daemon, so here it can only mean a wrong passphrase.
            let (proof, _shown) = kovra_client::session::passphrase_proof(
                context,
                request,
                &challenge,
                program.as_deref(),
                &asked,
                &passphrase,
            )
            .map_err(|_| {
                error(
                    StatusCode::BAD_GATEWAY,
                    "web-bad-proof",
                    "the daemon asked for a key derivation no kovra vault uses; nothing was sent",
                )
            })?;
            Ok(proof)
        }
        _ => Err(refused(
            "a proof is exactly one of a passkey assertion, a code or a passphrase",
        )),
    }
}
