//! The local CA and the leaves it signs. The CA key never leaves the daemon; leaves are
//! minted per intercepted host, short-lived, and cached for the proxy's life.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use zeroize::Zeroizing;

use crate::{Ca, ProxyError};

const CA_NAME: &str = "kovra local egress CA";
const DAY: Duration = Duration::from_secs(86_400);
/// Leaves kept at most (one per intercepted host name).
const MAX_CACHED_LEAVES: usize = 1024;

/// A leaf lives 30 days; the cache mints a new one well before that.
const LEAF_LIFE: Duration = Duration::from_secs(30 * 86_400);
const LEAF_REFRESH: Duration = Duration::from_secs(7 * 86_400);

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A new CA (ECDSA P-256), valid from yesterday for ten years.
pub fn new_ca() -> Result<Ca, ProxyError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| ProxyError::Ca(format!("key generation failed: {e}")))?;
    let mut params = ca_params();
    let now = SystemTime::now();
    params.not_before = (now - DAY).into();
    params.not_after = (now + 3653 * DAY).into();
    let cert = params
        .self_signed(&key)
        .map_err(|e| ProxyError::Ca(format!("self-signing failed: {e}")))?;
    Ok(Ca {
        cert_der: cert.der().to_vec(),
        key_der: Zeroizing::new(key.serialize_der()),
    })
}

impl Ca {
    /// The CA certificate, PEM, for a child's trust bundle.
    pub fn cert_pem(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.cert_der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

/// Signs leaves for intercepted hosts and keeps them.
pub(crate) struct Minter {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    cache: Mutex<HashMap<String, (SystemTime, Arc<CertifiedKey>)>>,
}

impl Minter {
    /// Load the CA and prove the key belongs to the certificate: a leaf it signs must verify
    /// against the certificate as the only root.
    pub(crate) fn new(ca: &Ca) -> Result<Minter, ProxyError> {
        let pkcs8 = PrivatePkcs8KeyDer::from(ca.key_der.as_slice());
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_ECDSA_P256_SHA256)
            .map_err(|_| ProxyError::Ca("the key does not parse (ECDSA P-256 expected)".into()))?;
        let minter = Minter {
            issuer: Issuer::new(ca_params(), key),
            ca_der: CertificateDer::from(ca.cert_der.clone()),
            cache: Mutex::new(HashMap::new()),
        };
        minter.check()?;
        Ok(minter)
    }

    fn check(&self) -> Result<(), ProxyError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|_| ProxyError::Ca("the certificate does not parse".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ProxyError::Ca(format!("the certificate is unusable: {e}")))?;
        let probe = "probe.kovra.invalid";
        let (leaf, _) = self.sign(probe)?;
        let name = ServerName::try_from(probe).map_err(|_| ProxyError::Ca("probe name".into()))?;
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
            .map_err(|_| {
                ProxyError::Ca("the key does not match the certificate (or it expired)".into())
            })?;
        Ok(())
    }

    fn sign(&self, host: &str) -> Result<(CertificateDer<'static>, KeyPair), ProxyError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| ProxyError::Ca(format!("leaf key generation failed: {e}")))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        let name = host
            .try_into()
            .map_err(|_| ProxyError::Ca("the host is not a DNS name".into()))?;
        params.subject_alt_names = vec![SanType::DnsName(name)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + LEAF_LIFE - Duration::from_secs(3600)).into();
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| ProxyError::Ca(format!("leaf signing failed: {e}")))?;
        Ok((cert.der().clone(), key))
    }

    /// The leaf for `host`, from the cache while it is fresh.
    pub(crate) fn leaf(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.to_ascii_lowercase();
        let now = SystemTime::now();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, key)) = cache.get(&host)
            && now.duration_since(*at).is_ok_and(|age| age < LEAF_REFRESH)
        {
            return Some(key.clone());
        }
        let (der, key) = self.sign(&host).ok()?;
        let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = rustls::crypto::ring::sign::any_supported_type(&pkcs8).ok()?;
        let certified = Arc::new(CertifiedKey::new(vec![der, self.ca_der.clone()], signer));
        // Wildcard providers allow any number of names below their domain: the cache never
        // grows past a bound (a full cache simply starts again).
        if cache.len() >= MAX_CACHED_LEAVES {
            cache.clear();
        }
        cache.insert(host, (now, certified.clone()));
        Some(certified)
    }
}

/// Presents the leaf of the host the child asked the proxy to `CONNECT` to. A ClientHello
/// naming another host fails the handshake: the tunnel's host decides where requests go, so
/// the certificate must be for that host and no other.
#[derive(Debug)]
pub(crate) struct ForHost {
    pub(crate) host: String,
    pub(crate) leaf: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ForHost {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(sni) if !sni.eq_ignore_ascii_case(&self.host) => None,
            _ => self.leaf.clone(),
        }
    }
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ca_loads_and_mints_cached_leaves() {
        let ca = new_ca().unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        let m = Minter::new(&ca).unwrap();
        let a = m.leaf("api.example.test").unwrap();
        let b = m.leaf("API.example.test").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn a_key_of_another_ca_is_refused() {
        let a = new_ca().unwrap();
        let b = new_ca().unwrap();
        let mixed = Ca {
            cert_der: a.cert_der.clone(),
            key_der: b.key_der.clone(),
        };
        assert!(matches!(Minter::new(&mixed), Err(ProxyError::Ca(_))));
        let garbage = Ca {
            cert_der: a.cert_der.clone(),
            key_der: Zeroizing::new(vec![1, 2, 3]),
        };
        assert!(matches!(Minter::new(&garbage), Err(ProxyError::Ca(_))));
    }
}
