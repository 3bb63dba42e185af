//! RSA signatures (`rsa-sha2-256` and `rsa-sha2-512`) made with the rsa crate directly. ssh-key 0.6.7 turns an
//! RSA key pair into rsa's private key from the primes `p` and `p` (not `p` and `q`), which
//! rsa 0.9.7 and later refuse, so every RSA signature through ssh-key fails
//! (RustCrypto/SSH#387; fixed only in 0.7, a pre-release kovra does not take).

use rsa::BigUint;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use ssh_key::private::RsaKeypair;
use ssh_key::sha2::{Sha256, Sha512};
use ssh_key::{Algorithm, HashAlg, Mpint, Signature};

use super::{RsaHash, SshKeyError};

fn number(m: &Mpint) -> Result<BigUint, SshKeyError> {
    m.as_positive_bytes()
        .map(BigUint::from_bytes_be)
        .ok_or(SshKeyError::Crypto)
}

/// Sign `data` with PKCS #1 v1.5 over SHA-256 or SHA-512: OpenSSH's `rsa-sha2-256` and
/// `rsa-sha2-512`.
pub(super) fn sign(
    pair: &RsaKeypair,
    data: &[u8],
    hash: RsaHash,
) -> Result<Signature, SshKeyError> {
    let private = rsa::RsaPrivateKey::from_components(
        number(&pair.public.n)?,
        number(&pair.public.e)?,
        number(&pair.private.d)?,
        vec![number(&pair.private.p)?, number(&pair.private.q)?],
    )
    .map_err(|_| SshKeyError::Crypto)?;
    let (signed, alg) = match hash {
        RsaHash::Sha256 => (
            SigningKey::<Sha256>::new(private)
                .try_sign(data)
                .map(|s| s.to_vec()),
            HashAlg::Sha256,
        ),
        RsaHash::Sha512 => (
            SigningKey::<Sha512>::new(private)
                .try_sign(data)
                .map(|s| s.to_vec()),
            HashAlg::Sha512,
        ),
    };
    let signed = signed.map_err(|_| SshKeyError::Crypto)?;
    Signature::new(Algorithm::Rsa { hash: Some(alg) }, signed).map_err(|_| SshKeyError::Crypto)
}
