//! `kovra_core::dbconn::parse`: a connection string pasted for `kovra add --postgres` (or a
//! `set` on a connection record).

use kovra_core::dbconn::{DbEngine, parse};

/// A connection string that parses has at least one host, each with a port; no public field
/// holds a control character; and its sealed value, the normalized URL, parses again to the
/// same metadata and the same bytes (what is sealed reads back as it was).
pub fn dbconn(data: &[u8]) {
    let Ok(conn) = parse(DbEngine::Postgres, data) else {
        return;
    };
    let info = &conn.info;
    assert!(!info.hosts.is_empty());
    assert!(info.hosts.iter().all(|h| h.port > 0));
    let public = info
        .hosts
        .iter()
        .filter_map(|h| h.host.as_deref())
        .chain(info.database.as_deref())
        .chain(info.user.as_deref())
        .chain(info.sslmode.as_deref())
        .chain(info.params.values().map(String::as_str));
    for field in public {
        assert!(!field.chars().any(char::is_control), "a control character");
    }
    let again = parse(DbEngine::Postgres, conn.value.expose());
    assert!(again.is_ok(), "the normalized value does not parse");
    let Ok(again) = again else { return };
    assert_eq!(again.info, conn.info);
    assert!(again.value == conn.value, "the normalized value moved");
}
