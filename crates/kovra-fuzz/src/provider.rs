//! `kovra_broker::registry::Provider::from_toml`: a custom provider file, as a human adds it.

use kovra_broker::registry::Provider;

/// A provider that parses is valid, sends to a host it allows, and survives being written
/// back as TOML and read again unchanged.
pub fn provider(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Provider::from_toml(text) else {
        return;
    };
    assert!(
        p.validate().is_ok(),
        "from_toml returns only valid providers"
    );
    let host = p.host();
    assert!(
        !host.is_empty() && p.allows_host(host),
        "the default host is allowed"
    );
    let _ = (p.placeholder(), p.rate_limit());
    let written = toml::to_string(&p);
    assert!(written.is_ok(), "a parsed provider can be written back");
    let Ok(written) = written else { return };
    let again = Provider::from_toml(&written);
    assert_eq!(again.ok().as_ref(), Some(&p), "TOML round trip");
}
