//! SSH key records: a private key held as the record's sealed value (the OpenSSH private key
//! encoding, never passphrase-protected: the vault seals it), and its public half kept in
//! the record's (authenticated) metadata, so `pubkey`, `list` and `show` never open the
//! value. Signing happens here, inside the daemon, so the private key never leaves it.
//!
//! No error here ever echoes input: a key pasted in the wrong place must not end up in an
//! error message, a log or a terminal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// The raw signature an SSH agent returns (algorithm and blob), for the daemon's later
/// ssh-agent surface.
pub use ssh_key::Signature;

/// The key types `kovra keygen` makes. Imports accept the same three algorithms (an RSA key
/// of any size OpenSSH accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    Ed25519,
    EcdsaP256,
    Rsa3072,
}

impl KeyType {
    pub const ALL: [KeyType; 3] = [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::Rsa3072];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa3072 => "rsa-3072",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown key type `{s}`; use ed25519, ecdsa-p256 or rsa-3072"))
    }
}

/// What a record's metadata says about its key: everything public, nothing that needs the
/// private key to compute. Set exactly on SSH key records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeyInfo {
    /// The OpenSSH algorithm name (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`).
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -l` and `ssh-add -l` print it.
    pub fingerprint: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA… comment`), as `authorized_keys` takes it.
    pub public_key: String,
    /// The servers this key may sign logins for, by host key fingerprint (`SHA256:…`); empty:
    /// any. A key with a list signs only through the ssh-agent, for a session bound to one of
    /// them (the policy's `Destination`), so a key kept for github.com signs nothing for
    /// another server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// Why a key was refused or could not be used. Codes are stable; none carries input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    #[error("the input is not an OpenSSH private key")]
    NotAKey,
    #[error("the input is a public key; a key record holds the private key")]
    PublicKeyGiven,
    #[error("the key is in the old PEM format; only the OpenSSH format is read")]
    LegacyFormat,
    #[error("the key is protected by a passphrase, and none was given")]
    PassphraseNeeded,
    #[error("the key's passphrase is wrong")]
    WrongPassphrase,
    #[error("unsupported key algorithm (use ed25519, ecdsa-p256 or rsa)")]
    Unsupported,
    #[error("the signing namespace is empty")]
    Namespace,
    #[error("the key could not be generated, encoded or used")]
    Crypto,
    #[error(
        "an ssh-rsa (SHA-1) signature was asked for; kovra makes rsa-sha2-256 and rsa-sha2-512 only"
    )]
    Sha1,
}

/// A private key read or made here: its sealed-to-be value and its public metadata.
pub struct KeyMaterial {
    /// The OpenSSH private key encoding, unencrypted (what the record's value holds).
    pub private: SecretBytes,
    pub info: SshKeyInfo,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("private", &self.private)
            .field("info", &self.info)
            .finish()
    }
}

fn supported(algorithm: &Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::Ed25519
            | Algorithm::Rsa { .. }
            | Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256
            }
    )
}

fn material(key: &PrivateKey) -> Result<KeyMaterial, SshKeyError> {
    if !supported(&key.algorithm()) {
        return Err(SshKeyError::Unsupported);
    }
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|_| SshKeyError::Crypto)?;
    let public = key.public_key();
    Ok(KeyMaterial {
        private: SecretBytes::new(pem.as_bytes().to_vec()),
        info: SshKeyInfo {
            algorithm: key.algorithm().as_str().to_string(),
            fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
            public_key: public.to_openssh().map_err(|_| SshKeyError::Crypto)?,
            hosts: Vec::new(),
        },
    })
}

/// Make a new key of `kind`, with `comment` on its public half.
pub fn generate(kind: KeyType, comment: &str) -> Result<KeyMaterial, SshKeyError> {
    let data = match kind {
        KeyType::Ed25519 => KeypairData::from(Ed25519Keypair::random(&mut OsRng)),
        KeyType::EcdsaP256 => KeypairData::from(
            EcdsaKeypair::random(&mut OsRng, EcdsaCurve::NistP256)
                .map_err(|_| SshKeyError::Crypto)?,
        ),
        KeyType::Rsa3072 => KeypairData::from(
            RsaKeypair::random(&mut OsRng, 3072).map_err(|_| SshKeyError::Crypto)?,
        ),
    };
    let key = PrivateKey::new(data, comment).map_err(|_| SshKeyError::Crypto)?;
    material(&key)
}

/// Read an OpenSSH private key as a user gives it (pasted or piped; surrounding blank lines
/// tolerated). A passphrase-protected key is decrypted with `passphrase`; what is kept is
/// the decrypted key, which the vault seals in its place.
pub fn import(input: &[u8], passphrase: Option<&[u8]>) -> Result<KeyMaterial, SshKeyError> {
    let text = std::str::from_utf8(input)
        .map_err(|_| SshKeyError::NotAKey)?
        .trim();
    if !text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return Err(classify(text));
    }
    let key = PrivateKey::from_openssh(text).map_err(|e| match e {
        ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
            SshKeyError::Unsupported
        }
        _ => SshKeyError::NotAKey,
    })?;
    if !key.is_encrypted() {
        return material(&key);
    }
    if !supported(&key.algorithm()) {
        return Err(SshKeyError::Unsupported);
    }
    let Some(passphrase) = passphrase.filter(|p| !p.is_empty()) else {
        return Err(SshKeyError::PassphraseNeeded);
    };
    let opened = key
        .decrypt(passphrase)
        .map_err(|_| SshKeyError::WrongPassphrase)?;
    material(&opened)
}

/// Why text that is not an OpenSSH private key was refused: the likely mistakes by name.
fn classify(text: &str) -> SshKeyError {
    let first = text.split_whitespace().next().unwrap_or_default();
    if ssh_key::PublicKey::from_openssh(text.lines().next().unwrap_or_default()).is_ok()
        || first.starts_with("ssh-")
        || first.starts_with("ecdsa-sha2-")
    {
        SshKeyError::PublicKeyGiven
    } else if text.starts_with("-----BEGIN ") && text.contains("PRIVATE KEY-----") {
        SshKeyError::LegacyFormat
    } else {
        SshKeyError::NotAKey
    }
}

/// Whether input looks like a passphrase-protected OpenSSH key, so a client knows to ask
/// for its passphrase before sending. Reads only the unencrypted header.
pub fn is_encrypted(input: &[u8]) -> bool {
    std::str::from_utf8(input)
        .ok()
        .and_then(|t| PrivateKey::from_openssh(t.trim()).ok())
        .is_some_and(|k| k.is_encrypted())
}

fn open(private: &SecretBytes) -> Result<PrivateKey, SshKeyError> {
    let text = std::str::from_utf8(private.expose()).map_err(|_| SshKeyError::NotAKey)?;
    let key = PrivateKey::from_openssh(text).map_err(|_| SshKeyError::NotAKey)?;
    if key.is_encrypted() {
        return Err(SshKeyError::PassphraseNeeded);
    }
    Ok(key)
}

/// An SSHSIG signature (`ssh-keygen -Y sign`'s armored output) over `data` in `namespace`,
/// with SHA-512 as ssh-keygen uses by default.
pub fn sshsig(
    private: &SecretBytes,
    namespace: &str,
    data: &[u8],
) -> Result<Zeroizing<String>, SshKeyError> {
    use sha2::Digest;
    let digest: [u8; 64] = sha2::Sha512::digest(data).into();
    sshsig_sha512(private, namespace, &digest)
}

/// What an SSHSIG signature signs (PROTOCOL.sshsig): the preamble, the namespace, an empty
/// reserved field, the hash's name and the message's hash, each but the first as an SSH
/// string. Built from the hash, so the daemon signs a file it never receives.
fn signed_data(namespace: &str, sha512: &[u8; 64]) -> Vec<u8> {
    let mut out = b"SSHSIG".to_vec();
    for part in [namespace.as_bytes(), b"", b"sha512", sha512] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// [`sshsig`] of data the caller hashed with SHA-512 (`kovra sign` hashes the file in the
/// client; only the hash reaches the daemon).
pub fn sshsig_sha512(
    private: &SecretBytes,
    namespace: &str,
    sha512: &[u8; 64],
) -> Result<Zeroizing<String>, SshKeyError> {
    if namespace.is_empty() {
        return Err(SshKeyError::Namespace);
    }
    let key = open(private)?;
    let signature = raw_sign(&key, &signed_data(namespace, sha512), Some(RsaHash::Sha512))?;
    let sig = ssh_key::SshSig::new(
        key.public_key().key_data().clone(),
        namespace,
        HashAlg::Sha512,
        signature,
    )
    .map_err(|_| SshKeyError::Crypto)?;
    sig.to_pem(LineEnding::LF)
        .map(Zeroizing::new)
        .map_err(|_| SshKeyError::Crypto)
}

/// A raw SSH signature over `data` (what an SSH agent's sign request returns; RSA keys sign
/// with `rsa-sha2-512`). The daemon's ssh-agent surface calls this once `decide` allowed the
/// record's `sign`.
pub fn sign(private: &SecretBytes, data: &[u8]) -> Result<Signature, SshKeyError> {
    raw_sign(&open(private)?, data, Some(RsaHash::Sha512))
}

/// [`sign`] with the hash an RSA signature should use (`None`: the client asked for a SHA-1
/// `ssh-rsa` signature, which kovra does not make). Keys of other types ignore it.
pub fn sign_with(
    private: &SecretBytes,
    data: &[u8],
    rsa: Option<RsaHash>,
) -> Result<Signature, SshKeyError> {
    raw_sign(&open(private)?, data, rsa)
}

/// The hash of an RSA signature: OpenSSH's `rsa-sha2-256` or `rsa-sha2-512`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaHash {
    Sha256,
    Sha512,
}

impl RsaHash {
    /// What an agent sign request's flags ask for (`SSH_AGENT_RSA_SHA2_256` = 2,
    /// `SSH_AGENT_RSA_SHA2_512` = 4; 512 when both). `None` when neither: a SHA-1 `ssh-rsa`
    /// signature, which a client must not get in place of what it asked (it would reject a
    /// signature of another algorithm) and kovra does not make.
    pub fn from_agent_flags(flags: u32) -> Option<RsaHash> {
        if flags & 4 != 0 {
            Some(RsaHash::Sha512)
        } else if flags & 2 != 0 {
            Some(RsaHash::Sha256)
        } else {
            None
        }
    }
}

fn raw_sign(key: &PrivateKey, data: &[u8], rsa: Option<RsaHash>) -> Result<Signature, SshKeyError> {
    use signature::Signer;
    match key.key_data() {
        KeypairData::Rsa(pair) => rsa::sign(pair, data, rsa.ok_or(SshKeyError::Sha1)?),
        _ => key.try_sign(data).map_err(|_| SshKeyError::Crypto),
    }
}

pub mod agentrules;
mod rsa;
#[cfg(test)]
mod tests;
