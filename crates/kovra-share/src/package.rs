//! Sealing and opening a package. The outer age layer is to the recipient, the inner one to
//! the token, and the payload holds the manifest bytes and the sender's signature over them.

use base64::Engine as _;
use ed25519_dalek::Signature;
use kovra_core::model::Sensitivity;
use kovra_core::totp::TotpParams;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::identity::{self, Identity, PublicIdentity, Recipient};
use crate::{ShareError, Token};

const FORMAT: &str = "kovra-share-v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// scrypt work factor of the token layer. The token carries 160 random bits, so the KDF
/// need not make guessing slow; 2^15 keeps receiving quick and any age can open it.
const TOKEN_LOG_N: u8 = 15;
/// The largest package accepted (the values of a whole environment fit many times over).
pub const MAX_PACKAGE: usize = 512 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub recipient: String,
    pub signing_key: String,
    pub fingerprint: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRecord {
    pub coordinate: String,
    pub sensitivity: Sensitivity,
    pub revealable: bool,
    pub description: String,
    #[serde(default)]
    pub totp: Option<TotpParams>,
    /// Base64 of the value.
    pub value: String,
}

impl Drop for PackageRecord {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl std::fmt::Debug for PackageRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageRecord")
            .field("coordinate", &self.coordinate)
            .field("sensitivity", &self.sensitivity)
            .finish_non_exhaustive()
    }
}

impl PackageRecord {
    pub fn value(&self) -> Result<Zeroizing<Vec<u8>>, ShareError> {
        B64.decode(self.value.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| ShareError::Invalid("a record's value is not base64".into()))
    }

    pub fn with_value(
        coordinate: String,
        sensitivity: Sensitivity,
        revealable: bool,
        description: String,
        totp: Option<TotpParams>,
        value: &[u8],
    ) -> PackageRecord {
        PackageRecord {
            coordinate,
            sensitivity,
            revealable,
            description,
            totp,
            value: B64.encode(value),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub package_id: String,
    pub sender: Sender,
    pub recipient: String,
    pub environment: String,
    pub project: Option<String>,
    pub created: u64,
    pub expires: u64,
    pub records: Vec<PackageRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    format: String,
    manifest: String,
    signature: String,
}

/// A fresh random package id.
pub fn new_package_id() -> Result<String, ShareError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| ShareError::Seal(e.to_string()))?;
    Ok(hex::encode(raw))
}

impl Sender {
    pub fn of(public: &PublicIdentity) -> Sender {
        Sender {
            recipient: public.recipient.clone(),
            signing_key: public.signing_key.clone(),
            fingerprint: public.fingerprint.clone(),
        }
    }
}

/// Seal `manifest` for `recipient`: returns the armored package and the token.
pub fn seal(
    manifest: &Manifest,
    sender: &Identity,
    recipient: &Recipient,
) -> Result<(String, Token), ShareError> {
    let manifest_bytes =
        Zeroizing::new(serde_json::to_vec(manifest).map_err(|e| ShareError::Seal(e.to_string()))?);
    let signature = sender.sign(&manifest_bytes);
    let payload = Payload {
        format: FORMAT.into(),
        manifest: B64.encode(manifest_bytes.as_slice()),
        signature: B64.encode(signature),
    };
    let mut payload_bytes =
        Zeroizing::new(serde_json::to_vec(&payload).map_err(|e| ShareError::Seal(e.to_string()))?);
    let Payload { mut manifest, .. } = payload;
    manifest.zeroize();
    let token = Token::generate();
    let mut inner_recipient =
        age::scrypt::Recipient::new(age::secrecy::SecretString::from(token.expose().to_string()));
    inner_recipient.set_work_factor(TOKEN_LOG_N);
    let inner = Zeroizing::new(
        age::encrypt(&inner_recipient, &payload_bytes)
            .map_err(|e| ShareError::Seal(e.to_string()))?,
    );
    payload_bytes.zeroize();
    let outer = match recipient {
        Recipient::X25519(r) => age::encrypt_and_armor(r, &inner),
        Recipient::Ssh(r) => age::encrypt_and_armor(r, &inner),
    }
    .map_err(|e| ShareError::Seal(e.to_string()))?;
    Ok((outer, token))
}

/// Open a package with this vault's identity and the token, and verify the signature.
/// The checks that need the vault (recipient, expiry, ledger, senders) are the caller's.
pub fn open(bytes: &[u8], identity: &Identity, token: &Token) -> Result<Manifest, ShareError> {
    if bytes.len() > MAX_PACKAGE {
        return Err(ShareError::Invalid(format!(
            "it is larger than {MAX_PACKAGE} bytes"
        )));
    }
    let inner = Zeroizing::new(age::decrypt(identity.age(), bytes).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => ShareError::NotForUs,
        _ => ShareError::Invalid("the outer age layer is damaged".into()),
    })?);
    let mut scrypt =
        age::scrypt::Identity::new(age::secrecy::SecretString::from(token.expose().to_string()));
    // kovra seals at 2^15; a larger factor would only let a stranger who knows our public
    // recipient make the daemon spend gigabytes and seconds.
    scrypt.set_max_work_factor(16);
    let payload_bytes = Zeroizing::new(age::decrypt(&scrypt, &inner).map_err(|e| match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
            ShareError::TokenInvalid
        }
        _ => ShareError::Invalid("the inner age layer is damaged or not a token layer".into()),
    })?);
    let payload: Payload = serde_json::from_slice(&payload_bytes)
        .map_err(|_| ShareError::Invalid("the payload is not a kovra package".into()))?;
    if payload.format != FORMAT {
        return Err(ShareError::Invalid(format!(
            "unknown package format (this kovra reads {FORMAT})"
        )));
    }
    let manifest_bytes = Zeroizing::new(
        B64.decode(payload.manifest.as_bytes())
            .map_err(|_| ShareError::Invalid("the manifest is not base64".into()))?,
    );
    let signature = B64
        .decode(payload.signature.as_bytes())
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or(ShareError::SignatureInvalid)?;
    let Payload { mut manifest, .. } = payload;
    manifest.zeroize();
    // The signing key is read from the manifest before trusting anything else in it.
    #[derive(Deserialize)]
    struct SenderOnly {
        sender: Sender,
    }
    let who: SenderOnly = serde_json::from_slice(&manifest_bytes)
        .map_err(|_| ShareError::Invalid("the manifest names no sender".into()))?;
    let key =
        identity::verifying_key(&who.sender.signing_key).ok_or(ShareError::SignatureInvalid)?;
    key.verify_strict(&manifest_bytes, &signature)
        .map_err(|_| ShareError::SignatureInvalid)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|_| ShareError::Invalid("the manifest does not match the format".into()))?;
    // The fingerprint is recomputed, never taken from the package.
    let expected = identity::fingerprint(&manifest.sender.recipient, key.as_bytes());
    if manifest.sender.fingerprint != expected || manifest.version != 1 {
        return Err(ShareError::Invalid(
            "the sender's fingerprint or the version does not match".into(),
        ));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(sender: &Identity, to: &Identity) -> Manifest {
        Manifest {
            version: 1,
            package_id: new_package_id().unwrap(),
            sender: Sender::of(&sender.public()),
            recipient: to.public().recipient,
            environment: "dev".into(),
            project: None,
            created: 1,
            expires: 2,
            records: vec![PackageRecord::with_value(
                "secret:dev/db/password".into(),
                Sensitivity::High,
                false,
                "db".into(),
                None,
                b"hunter2-but-longer",
            )],
        }
    }

    #[test]
    fn a_package_opens_only_with_the_identity_and_the_token() {
        let (a, b, c) = (
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
        );
        let m = manifest(&a, &b);
        let to = Recipient::parse(&b.public().recipient).unwrap();
        let (pkg, token) = seal(&m, &a, &to).unwrap();
        assert!(pkg.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        let opened = open(pkg.as_bytes(), &b, &token).unwrap();
        assert_eq!(&*opened.records[0].value().unwrap(), b"hunter2-but-longer");
        assert_eq!(opened.sender.fingerprint, a.public().fingerprint);
        assert!(matches!(
            open(pkg.as_bytes(), &c, &token),
            Err(ShareError::NotForUs)
        ));
        let wrong = Token::generate();
        assert!(matches!(
            open(pkg.as_bytes(), &b, &wrong),
            Err(ShareError::TokenInvalid)
        ));
        assert!(open(&pkg.as_bytes()[..pkg.len() / 2], &b, &token).is_err());
    }
}
