//! RSA signatures (`rsa-sha2-512`) made with the rsa crate directly. ssh-key 0.6.7 turns an
//! RSA key pair into rsa's private key from the primes `p` and `p` (not `p` and `q`), which
//! rsa 0.9.7 and later refuse, so every RSA signature through ssh-key fails
//! (RustCrypto/SSH#387; fixed only in 0.7, a pre-release kovra does not take).

use rsa::BigUint;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use ssh_key::private::RsaKeypair;
use ssh_key::sha2::Sha512;
use ssh_key::{Algorithm, HashAlg, Mpint, Signature};

use super::SshKeyError;

fn number(m: &Mpint) -> Result<BigUint, SshKeyError> {
    m.as_positive_bytes()
        .map(BigUint::from_bytes_be)
        .ok_or(SshKeyError::Crypto)
}

/// Sign `data` with SHA-512 (PKCS #1 v1.5), as OpenSSH's `rsa-sha2-512`.
pub(super) fn sign(pair: &RsaKeypair, data: &[u8]) -> Result<Signature, SshKeyError> {
    let private = rsa::RsaPrivateKey::from_components(
        number(&pair.public.n)?,
        number(&pair.public.e)?,
        number(&pair.private.d)?,
        vec![number(&pair.private.p)?, number(&pair.private.q)?],
    )
    .map_err(|_| SshKeyError::Crypto)?;
    let signed = SigningKey::<Sha512>::new(private)
        .try_sign(data)
        .map_err(|_| SshKeyError::Crypto)?;
    Signature::new(
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        signed.to_vec(),
    )
    .map_err(|_| SshKeyError::Crypto)
}
