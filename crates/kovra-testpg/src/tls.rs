//! The server's throwaway PKI: a CA that lives only in memory while it signs one server
//! certificate for `localhost` and `127.0.0.1`, so a client can verify the server fully
//! (`sslmode=verify-full`) with the CA's certificate and either name. The CA key is dropped at
//! once: nothing else can ever be signed by it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};

use crate::account::Account;

pub(crate) const CA_PEM: &str = "ca.pem";
pub(crate) const SERVER_CERT: &str = "server.crt";
pub(crate) const SERVER_KEY: &str = "server.key";

/// Write `ca.pem`, `server.crt` and `server.key` (mode 0600, the server's: PostgreSQL refuses
/// a key others may read) into `dir`.
pub(crate) fn write_pki(dir: &Path, account: &Account) {
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("kovra-testpg CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = (now - hour).into();
    ca.not_after = (now + 48 * hour).into();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = name("localhost");
    leaf.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = (now - hour).into();
    leaf.not_after = (now + 24 * hour).into();
    let cert = leaf.signed_by(&key, &issuer).unwrap();

    write(dir, CA_PEM, &ca_cert.pem(), 0o644, account);
    write(dir, SERVER_CERT, &cert.pem(), 0o644, account);
    write(dir, SERVER_KEY, &key.serialize_pem(), 0o600, account);
}

fn name(common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common);
    dn
}

fn write(dir: &Path, file: &str, text: &str, mode: u32, account: &Account) {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    account.give(&path);
}
