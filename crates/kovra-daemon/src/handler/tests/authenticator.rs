//! An emulated WebAuthn authenticator and browser, for tests without a browser: ES256
//! (p256), `none` attestation, CBOR written by hand (the few shapes WebAuthn needs), and
//! the JSON a browser's `credential.toJSON()` gives.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub(super) struct Authenticator {
    key: SigningKey,
    pub(super) cred_id: Vec<u8>,
    pub(super) counter: u32,
    /// Whether it reports the user verified (a PIN or biometric).
    pub(super) verifies_user: bool,
}

/// A CBOR head: major type and length (lengths below 2^16 are all WebAuthn needs here).
fn head(major: u8, len: usize) -> Vec<u8> {
    let m = major << 5;
    match len {
        0..=23 => vec![m | len as u8],
        24..=255 => vec![m | 24, len as u8],
        _ => {
            let l = u16::try_from(len).unwrap().to_be_bytes();
            vec![m | 25, l[0], l[1]]
        }
    }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = head(2, b.len());
    out.extend_from_slice(b);
    out
}

fn cbor_text(t: &str) -> Vec<u8> {
    let mut out = head(3, t.len());
    out.extend_from_slice(t.as_bytes());
    out
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

impl Authenticator {
    pub(super) fn new() -> Self {
        let seed = kovra_core::crypto::random_array::<32>();
        Authenticator {
            key: SigningKey::from_slice(&seed).unwrap(),
            cred_id: kovra_core::crypto::random_array::<16>().to_vec(),
            counter: 0,
            verifies_user: true,
        }
    }

    fn flags(&self) -> u8 {
        UP | if self.verifies_user { UV } else { 0 }
    }

    /// The public key as a COSE_Key map: kty EC2, alg ES256, crv P-256, x, y.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut out = vec![0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        out.extend(cbor_bytes(point.x().unwrap()));
        out.push(0x22);
        out.extend(cbor_bytes(point.y().unwrap()));
        out
    }

    fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": options["challenge"],
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn auth_data_head(&mut self, rp_id: &str, flags: u8) -> Vec<u8> {
        self.counter += 1;
        let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
        out.push(flags);
        out.extend_from_slice(&self.counter.to_be_bytes());
        out
    }

    /// `navigator.credentials.create(options)` at `origin`, then `credential.toJSON()`.
    pub(super) fn create(&mut self, options: &Value, origin: &str) -> Value {
        let rp_id = options["rp"]["id"].as_str().unwrap().to_string();
        let client = Self::client_data("webauthn.create", options, origin);
        let mut auth = self.auth_data_head(&rp_id, self.flags() | AT);
        auth.extend_from_slice(&[0; 16]); // AAGUID
        auth.extend_from_slice(&u16::try_from(self.cred_id.len()).unwrap().to_be_bytes());
        auth.extend_from_slice(&self.cred_id);
        auth.extend(self.cose_key());
        let mut att = vec![0xA3];
        att.extend(cbor_text("fmt"));
        att.extend(cbor_text("none"));
        att.extend(cbor_text("attStmt"));
        att.push(0xA0);
        att.extend(cbor_text("authData"));
        att.extend(cbor_bytes(&auth));
        // Chromium's `toJSON()` also sends these; the daemon must take them as they come.
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client),
                "attestationObject": b64(&att),
                "authenticatorData": b64(&auth),
                "transports": ["internal"],
                "publicKeyAlgorithm": -7,
            },
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get(options)` at `origin`, then `credential.toJSON()`.
    pub(super) fn get(&mut self, options: &Value, origin: &str) -> Value {
        let rp_id = options["rpId"].as_str().unwrap().to_string();
        let client = Self::client_data("webauthn.get", options, origin);
        let auth = self.auth_data_head(&rp_id, self.flags());
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&client));
        let sig: Signature = self.key.sign(&signed);
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth),
                "clientDataJSON": b64(&client),
                "signature": b64(sig.to_der().as_bytes()),
                "userHandle": null,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }
}
