//! The digest a proof of presence or an approval is bound to. Both ends compute it: the
//! daemon over the request it received, the client over the request it sent and showed, so
//! a proof made for one request never fits another.

use kovra_core::childenv;
use kovra_core::crypto;

use crate::{Context, Request};

/// The request without its proof, with the context it came in. A run is covered by what
/// decides what it does — the executable's content (`program`, hashed by the daemon),
/// argv, directory, refs, the environment a protected child gets, values or placeholders
/// and the egress policy — and not by the
/// incidental rest of the caller's environment or terminal size, so the same command
/// started again from another shell is the same request.
pub fn request_digest(context: &Context, request: &Request, program: Option<&str>) -> [u8; 32] {
    let ctx = serde_json::to_vec(context).unwrap_or_default();
    let req = match request {
        Request::Run(run) => {
            let env = childenv::protected(&run.env, &run.keep_env);
            let stable = (
                &run.argv,
                &run.cwd,
                &run.refs,
                &run.refs_path,
                &run.env_name,
                &run.only,
                run.no_secrets,
                &run.keep_env,
                env,
                // What the child gets: an approval of a placeholder run is no approval of
                // the values, nor of a wider egress.
                run.delivery,
                run.egress,
            );
            serde_json::to_vec(&("run", stable)).unwrap_or_default()
        }
        other => serde_json::to_vec(other).unwrap_or_default(),
    };
    let req = zeroize::Zeroizing::new(req);
    crypto::sha256(&[&ctx, &req, program.unwrap_or_default().as_bytes()])
}
