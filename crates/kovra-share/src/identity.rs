//! The vault's sharing identity: an age X25519 key (packages are sealed to it) and an Ed25519
//! key (packages it sends are signed with it). Both private halves live only in the vault.

use age::secrecy::ExposeSecret;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use kovra_core::secret::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ShareError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub struct Identity {
    age: age::x25519::Identity,
    signing: SigningKey,
}

/// What is stored in the vault: both private keys, as text that is wiped when dropped
/// (both on the way in and on the way out).
#[derive(Serialize, Deserialize)]
struct Stored {
    age: SecretString,
    signing: SecretString,
}

/// The public half, as `kovra identity` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    pub recipient: String,
    pub signing_key: String,
    pub fingerprint: String,
}

impl Identity {
    pub fn generate() -> Result<Identity, ShareError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| ShareError::Seal(e.to_string()))?;
        Ok(Identity {
            age: age::x25519::Identity::generate(),
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The stored form (a secret: it goes only into the vault).
    pub fn to_stored(&self) -> Zeroizing<Vec<u8>> {
        let signing = Zeroizing::new(self.signing.to_bytes());
        let stored = Stored {
            age: SecretString::new(self.age.to_string().expose_secret().to_string()),
            signing: SecretString::new(B64.encode(signing.as_slice())),
        };
        Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default())
    }

    pub fn from_stored(bytes: &[u8]) -> Result<Identity, ShareError> {
        let stored: Stored =
            serde_json::from_slice(bytes).map_err(|_| ShareError::IdentityInvalid)?;
        let age: age::x25519::Identity = stored
            .age
            .expose()
            .parse()
            .map_err(|_| ShareError::IdentityInvalid)?;
        let raw = Zeroizing::new(
            B64.decode(stored.signing.expose().as_bytes())
                .map_err(|_| ShareError::IdentityInvalid)?,
        );
        let seed: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| ShareError::IdentityInvalid)?;
        let seed = Zeroizing::new(seed);
        Ok(Identity {
            age,
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public(&self) -> PublicIdentity {
        public_of(
            &self.age.to_public().to_string(),
            &self.signing.verifying_key(),
        )
    }

    pub(crate) fn age(&self) -> &age::x25519::Identity {
        &self.age
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

pub(crate) fn public_of(recipient: &str, key: &VerifyingKey) -> PublicIdentity {
    PublicIdentity {
        recipient: recipient.to_string(),
        signing_key: format!("ed25519:{}", B64.encode(key.as_bytes())),
        fingerprint: fingerprint(recipient, key.as_bytes()),
    }
}

/// The first 10 bytes of SHA-256 over the recipient and the signing key, in base32 groups:
/// short enough to read aloud, long enough that nobody can make a key that matches.
pub fn fingerprint(recipient: &str, signing_key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"kovra-identity-v1")
        .chain_update(recipient.as_bytes())
        .chain_update(b"\n")
        .chain_update(signing_key)
        .finalize();
    let text = data_encoding::BASE32_NOPAD.encode(&digest[..10]);
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Parse `ed25519:BASE64URL` as a verifying key.
pub fn verifying_key(text: &str) -> Option<VerifyingKey> {
    let raw = B64.decode(text.strip_prefix("ed25519:")?.as_bytes()).ok()?;
    let bytes: [u8; 32] = raw.as_slice().try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Who a package is sealed to.
pub enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    /// `age1…` or `ssh-ed25519 AAAA…` (a trailing comment is allowed). Other kinds are refused:
    /// a stock age 1.1 could not open them.
    pub fn parse(text: &str) -> Result<Recipient, ShareError> {
        let text = text.trim();
        if text.starts_with("age1") {
            // A post-quantum recipient's human-readable part is `age1pq` (`age1pq1…`), but
            // an X25519 recipient's data may begin with `pq` too (1 in 1,024 keys): the
            // parse decides, the prefix only words the refusal.
            return text
                .parse::<age::x25519::Recipient>()
                .map(Recipient::X25519)
                .map_err(|_| {
                    ShareError::RecipientInvalid(if text.starts_with("age1pq1") {
                        "a post-quantum age1pq1… recipient: stock age 1.1 cannot open it; give an X25519 age1… recipient".into()
                    } else {
                        "not a valid age1… X25519 recipient".into()
                    })
                });
        }
        if text.starts_with("ssh-ed25519 ") {
            let key: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return key
                .parse::<age::ssh::Recipient>()
                .map(Recipient::Ssh)
                .map_err(|_| {
                    ShareError::RecipientInvalid("not a valid ssh-ed25519 public key".into())
                });
        }
        Err(ShareError::RecipientInvalid(
            "a recipient is an age1… X25519 key or an ssh-ed25519 public key".into(),
        ))
    }

    /// The canonical text (what the manifest records and the receiver compares).
    pub fn to_text(&self) -> String {
        match self {
            Recipient::X25519(r) => r.to_string(),
            Recipient::Ssh(r) => r.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_identity_round_trips_and_fingerprints_are_stable() {
        let id = Identity::generate().unwrap();
        let back = Identity::from_stored(&id.to_stored()).unwrap();
        assert_eq!(id.public(), back.public());
        let p = id.public();
        assert_eq!(p.fingerprint.len(), 19);
        let key = verifying_key(&p.signing_key).unwrap();
        assert_eq!(fingerprint(&p.recipient, key.as_bytes()), p.fingerprint);
        assert_ne!(
            Identity::generate().unwrap().public().fingerprint,
            p.fingerprint
        );
    }

    #[test]
    fn only_x25519_and_ssh_ed25519_recipients_are_accepted() {
        let id = Identity::generate().unwrap();
        assert!(Recipient::parse(&id.public().recipient).is_ok());
        for bad in [
            "",
            "age1xyz",
            "ssh-rsa AAAAB3Nza",
            "AGE-SECRET-KEY-1ABC",
            "age1pqabc",
            "age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        ] {
            assert!(Recipient::parse(bad).is_err(), "{bad}");
        }
    }

    /// One X25519 key in 1,024 has a recipient starting `age1pq`: it is an X25519
    /// recipient like any other (a kit sealed to such a machine once failed here).
    #[test]
    fn an_x25519_recipient_that_begins_with_pq_is_accepted() {
        let recipient = (0..200_000)
            .map(|_| age::x25519::Identity::generate().to_public().to_string())
            .find(|r| r.starts_with("age1pq"))
            .expect("one in 1,024 recipients begins with age1pq");
        assert!(
            matches!(Recipient::parse(&recipient), Ok(Recipient::X25519(_))),
            "{recipient}"
        );
    }
}
