//! Passkeys (WebAuthn) for the daemon: the relying party (RP id `localhost`, the one origin
//! the Web UI registered), enrolment ceremonies in memory, and assertions checked against a
//! challenge kovra derives rather than the random one webauthn-rs-core draws.
//!
//! webauthn-rs-core 0.6.2 (pinned) always draws its own challenge and keeps it in a
//! `pub(crate)` field; its states are Serialize/Deserialize, so the derived challenge is
//! written into the serialised state and options (base64url, no padding). A test checks
//! both carry exactly the derived value. The crate does not stop replays: the assertion
//! state is rebuilt for one daemon challenge, which is single use (`crate::proof`), and the
//! caller writes the counter back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AuthenticationResult, AuthenticationState, Credential, PublicKeyCredential,
    RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

use kovra_core::crypto;

/// Browsers let any `http://localhost:PORT` page use RP id `localhost`, which is why the
/// origin (the Web UI's own) is checked as well.
pub const RP_ID: &str = "localhost";
const RP_NAME: &str = "kovra";
/// How long the browser may wait for the authenticator, and an enrolment may stay open.
const TIMEOUT: Duration = Duration::from_secs(120);
const MAX_CEREMONIES: usize = 8;
/// The one user every credential belongs to: the vault.
const USER_ID: &[u8] = b"kovra-vault";

/// Parse an origin the Web UI serves: `http://localhost:PORT` (or https), nothing else.
pub fn parse_origin(origin: &str) -> Result<Url, String> {
    let url = Url::parse(origin).map_err(|e| format!("`{origin}` is not an origin ({e})"))?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str() != Some(RP_ID)
        || !bare
        || !url.username().is_empty()
    {
        return Err(format!(
            "`{origin}` is not a Web UI origin (http://localhost:PORT)"
        ));
    }
    Ok(url)
}

fn relying_party(origin: &Url) -> WebauthnCore {
    WebauthnCore::new_unsafe_experts_only(RP_NAME, RP_ID, vec![origin.clone()], TIMEOUT, None, None)
}

/// An enrolment waiting for the browser's credential.
pub struct Ceremony {
    pub state: RegistrationState,
    pub name: String,
    pub origin: Url,
    /// The agent profile whose socket began it (`None`: the human's): only that socket may
    /// finish it.
    pub agent: Option<String>,
    expires: Instant,
}

/// Enrolments in flight: memory only, single use, short-lived, cleared on lock.
#[derive(Default)]
pub struct Ceremonies {
    pending: HashMap<String, Ceremony>,
}

impl Ceremonies {
    pub fn begin(
        &mut self,
        state: RegistrationState,
        name: String,
        origin: Url,
        agent: Option<String>,
    ) -> String {
        let now = Instant::now();
        self.pending.retain(|_, c| c.expires > now);
        if self.pending.len() >= MAX_CEREMONIES
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, c)| c.expires)
                .map(|(k, _)| k.clone())
        {
            self.pending.remove(&oldest);
        }
        let id = hex::encode(crypto::random_array::<16>());
        let ceremony = Ceremony {
            state,
            name,
            origin,
            agent,
            expires: now + TIMEOUT,
        };
        self.pending.insert(id.clone(), ceremony);
        id
    }

    /// Take a live ceremony out (single use, whatever follows).
    pub fn take(&mut self, id: &str) -> Option<Ceremony> {
        self.pending
            .remove(id)
            .filter(|c| c.expires > Instant::now())
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Creation options for a new passkey (user verification required; the credentials
/// already enrolled excluded) and the state to finish it with. The options are the
/// `PublicKeyCredentialCreationOptions` JSON (`parseCreationOptionsFromJSON`).
pub fn creation(
    origin: &Url,
    enrolled: Vec<Vec<u8>>,
) -> Result<(Value, RegistrationState), String> {
    let rp = relying_party(origin);
    let builder = rp
        .new_challenge_register_builder(USER_ID, "kovra", "kovra vault")
        .map_err(|e| format!("{e:?}"))?
        .user_verification_policy(UserVerificationPolicy::Required)
        .exclude_credentials((!enrolled.is_empty()).then_some(enrolled));
    let (options, state) = rp
        .generate_challenge_register(builder)
        .map_err(|e| format!("{e:?}"))?;
    let json = serde_json::to_value(&options.public_key).map_err(|e| e.to_string())?;
    Ok((json, state))
}

/// Check the browser's `create()` result against the ceremony: origin, RP id hash, user
/// present and verified, the challenge, the algorithm. Attestation is not required (`none`).
pub fn register(
    origin: &Url,
    credential: &Value,
    state: &RegistrationState,
) -> Result<Credential, &'static str> {
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(credential.clone()).map_err(|_| "the credential is malformed")?;
    relying_party(origin)
        .register_credential(&reg, state, None)
        .map_err(why)
}

/// `value` with its JSON field `challenge` set to `challenge` (base64url, no padding): how
/// a state or options of webauthn-rs-core get kovra's derived challenge.
fn with_challenge<T: Serialize + DeserializeOwned>(
    value: &T,
    challenge: &[u8; 32],
) -> Result<T, String> {
    let mut json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    let Some(field) = json.get_mut("challenge") else {
        return Err("webauthn-rs-core's layout changed: no `challenge` field".into());
    };
    *field = Value::String(URL_SAFE_NO_PAD.encode(challenge));
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// The request options (`PublicKeyCredentialRequestOptions` JSON, for
/// `parseRequestOptionsFromJSON`) and the matching state for one derived challenge:
/// `allowCredentials` the enrolled credentials, user verification required.
pub fn assertion_request(
    credentials: Vec<Credential>,
    challenge: &[u8; 32],
) -> Result<(Value, AuthenticationState), String> {
    // The origin plays no part in the options or the state.
    let rp = relying_party(&Url::parse("http://localhost").map_err(|e| e.to_string())?);
    let builder = rp
        .new_challenge_authenticate_builder(credentials, Some(UserVerificationPolicy::Required))
        .map_err(|e| format!("{e:?}"))?;
    let (options, state) = rp
        .generate_challenge_authenticate(builder)
        .map_err(|e| format!("{e:?}"))?;
    let options = with_challenge(&options.public_key, challenge)?;
    let state = with_challenge(&state, challenge)?;
    let json = serde_json::to_value(&options).map_err(|e| e.to_string())?;
    Ok((json, state))
}

/// Verify an assertion (`credential.toJSON()` of a `get()`) for the derived challenge,
/// against the enrolled credentials, from `origin`. The reasons never hold the assertion.
pub fn verify(
    origin: &Url,
    credentials: Vec<Credential>,
    challenge: &[u8; 32],
    assertion: &Value,
) -> Result<AuthenticationResult, &'static str> {
    let rsp: PublicKeyCredential = serde_json::from_value(assertion.clone())
        .map_err(|_| "the passkey assertion is malformed")?;
    let (_, state) =
        assertion_request(credentials, challenge).map_err(|_| "no passkey can answer")?;
    relying_party(origin)
        .authenticate_credential(&rsp, &state)
        .map_err(why)
}

/// Why webauthn-rs-core refused, in words that hold nothing of what was sent.
fn why(e: WebauthnError) -> &'static str {
    match e {
        WebauthnError::MismatchedChallenge => {
            "the passkey assertion answers another challenge or request"
        }
        WebauthnError::InvalidRPOrigin => {
            "the passkey assertion comes from an origin other than the Web UI's"
        }
        WebauthnError::InvalidRPIDHash => "the passkey assertion is for another relying party",
        WebauthnError::UserNotPresent => "the authenticator did not report user presence",
        WebauthnError::UserNotVerified => "the authenticator did not verify the user",
        WebauthnError::CredentialNotFound => "the passkey is not enrolled",
        WebauthnError::CredentialPossibleCompromise => {
            "the passkey's signature counter did not advance (a replay or a cloned authenticator)"
        }
        WebauthnError::InvalidClientDataType => "the client data is of the wrong type",
        WebauthnError::CredentialExcludedFromRequest | WebauthnError::CredentialAlreadyExists => {
            "the passkey is already enrolled"
        }
        WebauthnError::CredentialAlteredAlgFromRequest
        | WebauthnError::CredentialInsecureCryptography => {
            "the passkey uses an algorithm kovra does not accept"
        }
        _ => "the passkey data does not verify",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_the_web_uis_only() {
        assert!(parse_origin("http://localhost:8123").is_ok());
        for bad in [
            "http://127.0.0.1:8123",
            "http://localhost.evil:8123",
            "http://localhost:8123/path",
            "ftp://localhost:8123",
            "http://user@localhost:8123",
            "localhost:8123",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    /// The swap relies on webauthn-rs-core's serde layout (CRATES.md §12.7 pitfall 12): the
    /// options the browser signs and the state the assertion is checked against must both
    /// carry exactly the derived challenge.
    #[test]
    fn options_and_state_carry_the_derived_challenge() {
        let derived = kovra_core::passkey::challenge("0011", &[7; 32]);
        let (options, state) = assertion_request(Vec::new(), &derived).unwrap();
        let b64 = URL_SAFE_NO_PAD.encode(derived);
        assert_eq!(options["challenge"], Value::String(b64.clone()));
        assert_eq!(options["userVerification"], "required");
        assert_eq!(options["rpId"], RP_ID);
        let state = serde_json::to_value(&state).unwrap();
        assert_eq!(state["challenge"], Value::String(b64));
    }
}
