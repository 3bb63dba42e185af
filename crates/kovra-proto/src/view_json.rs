//! A listing's records written as JSON by hand, as the same JSON value serde writes for the
//! [`RecordView`](crate::RecordView) of each (tests hold the two equal; only the order of
//! the fields differs, which no JSON reader sees).
//!
//! A streamed listing of 100,000 records spent most of the daemon's time serializing: a
//! coordinate formatted into a fresh string per record, every string escaped byte by byte,
//! and above all the records' strings read from wherever the heap scattered them. So a view
//! is written in two parts:
//! - the *fixed* part, every field that depends only on the record's metadata
//!   ([`write_fixed`]), which the daemon renders once per kept record and keeps beside it
//!   (`kovra_core::store::Rendered`), so a page is mostly copies of contiguous bytes;
//! - the fields a view adds (`vault`, `production`, `provider`), written around it
//!   ([`ViewHead::write`]).
//!
//! Strings with no byte JSON must escape (coordinates, labels and most descriptions) are
//! copied whole after one pass that checks them; any other goes through serde_json itself,
//! so escaping has one definition.

use kovra_core::model::Metadata;

/// What a streamed page starts with: serde's form of a [`Page`](crate::Page) is
/// `{"items":[…]}`.
pub const PAGE_OPEN: &[u8] = b"{\"items\":[";
/// What a streamed page ends with.
pub const PAGE_CLOSE: &[u8] = b"]}";

/// Append the fixed part of a record's view: `"coordinate":…` through `"updated":…`, then
/// `type`, then `totp`, `provider_host`, `ssh_key` and `database` when set; no braces, no leading or
/// trailing comma.
pub fn write_fixed(out: &mut Vec<u8>, meta: &Metadata) {
    let c = &meta.coordinate;
    out.extend_from_slice(b"\"coordinate\":\"");
    out.extend_from_slice(c.prefix().as_bytes());
    str_contents(out, c.env());
    out.push(b'/');
    str_contents(out, c.group());
    out.push(b'/');
    str_contents(out, c.key());
    out.extend_from_slice(b"\",\"env\":");
    str(out, c.env());
    out.extend_from_slice(b",\"sensitivity\":");
    str(out, meta.sensitivity.as_str());
    out.extend_from_slice(b",\"revealable\":");
    out.extend_from_slice(bool_text(meta.revealable));
    out.extend_from_slice(b",\"description\":");
    str(out, &meta.description);
    out.extend_from_slice(b",\"version\":");
    number(out, meta.version);
    out.extend_from_slice(b",\"created\":");
    number(out, meta.created);
    out.extend_from_slice(b",\"updated\":");
    number(out, meta.updated);
    out.extend_from_slice(b",\"type\":");
    str(out, meta.kind().as_str());
    if let Some(totp) = &meta.totp {
        out.extend_from_slice(b",\"totp\":");
        serde_fallback(out, totp);
    }
    if let Some(host) = &meta.provider_host {
        out.extend_from_slice(b",\"provider_host\":");
        str(out, host);
    }
    if let Some(key) = &meta.ssh_key {
        out.extend_from_slice(b",\"ssh_key\":");
        serde_fallback(out, key);
    }
    if let Some(db) = &meta.database {
        out.extend_from_slice(b",\"database\":");
        serde_fallback(out, db);
    }
}

/// The start of every view of one vault's records, written once per vault: `{"vault":…,
/// "production":` with either answer.
pub struct ViewHead {
    production: Vec<u8>,
    other: Vec<u8>,
}

impl ViewHead {
    /// The head of views in the vault labelled `vault` (`global` or `project:NAME`).
    pub fn new(vault: &str) -> Self {
        let mut other = b"{\"vault\":".to_vec();
        str(&mut other, vault);
        other.extend_from_slice(b",\"production\":");
        let mut production = other.clone();
        production.extend_from_slice(b"true,");
        other.extend_from_slice(b"false,");
        ViewHead { production, other }
    }

    /// Append one whole view: this head, the record's `fixed` part (as [`write_fixed`]
    /// wrote it), and the provider the view shows.
    pub fn write(&self, out: &mut Vec<u8>, production: bool, fixed: &[u8], provider: Option<&str>) {
        out.extend_from_slice(if production {
            &self.production
        } else {
            &self.other
        });
        out.extend_from_slice(fixed);
        if let Some(provider) = provider {
            out.extend_from_slice(b",\"provider\":");
            str(out, provider);
        }
        out.push(b'}');
    }
}

fn bool_text(b: bool) -> &'static [u8] {
    if b { b"true" } else { b"false" }
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Whether serde_json writes `s` unchanged between its quotes: it escapes only `"`, `\`
/// and the control characters below U+0020.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// `s` as a quoted JSON string.
fn str(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_fallback(out, s);
    }
}

/// `s` escaped, without its quotes (a piece of a longer string).
fn str_contents(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.extend_from_slice(s.as_bytes());
    } else {
        let start = out.len();
        serde_fallback(out, s);
        // serde wrote `"…"`: drop the two quotes around the escaped text.
        out.remove(start);
        out.pop();
    }
}

fn serde_fallback<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing plain data into a Vec cannot fail: no I/O, and no map with non-string keys.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Page, RecordView, RecordViewRef};
    use kovra_core::coord::Coordinate;
    use kovra_core::model::Sensitivity;
    use kovra_core::totp::TotpParams;

    /// Records and views over every optional field, every sensitivity, both pins, and
    /// strings that need escaping (quotes, backslashes, control characters, non-ASCII).
    fn cases() -> Vec<(Metadata, String, bool, Option<String>)> {
        let totp: TotpParams =
            serde_json::from_str(r#"{"algorithm":"SHA256","digits":8,"period":60}"#).unwrap();
        let descriptions = [
            "",
            "plain words",
            "with \"quotes\" and\ttab, a \\ and \u{1} and \u{7f}",
            "unicode: é ✓ 🔑 \u{2028}",
        ];
        let mut out = Vec::new();
        for (i, text) in ["secret:prod/a/B_KEY", "secret://global/dev/db/key-1"]
            .into_iter()
            .enumerate()
        {
            for (j, sensitivity) in Sensitivity::ALL.into_iter().enumerate() {
                let k = i * 4 + j;
                let meta = Metadata {
                    coordinate: Coordinate::parse(text).unwrap(),
                    sensitivity,
                    revealable: k % 3 == 0,
                    description: descriptions[k % descriptions.len()].into(),
                    created: 1_700_000_000 + k as u64,
                    updated: u64::MAX - k as u64,
                    version: [0, 1, 42, u64::MAX][j],
                    totp: (k % 2 == 0).then_some(totp),
                    // The record's own pin is not what a view shows (that is `provider`).
                    provider: Some("ignored".into()),
                    provider_host: (k % 4 == 1).then(|| "api.github.com".to_string()),
                    ssh_key: (k % 4 == 3).then(|| kovra_core::sshkey::SshKeyInfo {
                        algorithm: "ssh-ed25519".into(),
                        fingerprint: "SHA256:abc/+def".into(),
                        public_key: "ssh-ed25519 AAAAC3Nz a \"quoted\" comment".into(),
                        hosts: Vec::new(),
                    }),
                    database: (k % 4 == 2).then(|| kovra_core::dbconn::DbConnInfo {
                        engine: kovra_core::dbconn::DbEngine::Postgres,
                        hosts: vec![kovra_core::dbconn::DbHost {
                            host: Some("db.\"example\".com".into()),
                            port: 5432,
                        }],
                        database: Some("shop".into()),
                        user: Some("app\\x".into()),
                        sslmode: None,
                        params: [("application_name".to_string(), "k\nv".to_string())].into(),
                        password: true,
                    }),
                };
                let vault = if k % 2 == 0 {
                    "global"
                } else {
                    "project:app\"x"
                };
                let provider = (k % 3 != 2).then(|| format!("github{}", "\n".repeat(k % 2)));
                out.push((meta, vault.to_string(), k % 2 == 1, provider));
            }
        }
        out
    }

    /// The view serde writes, through the borrowed form the one-frame reply uses.
    fn serde_view(
        meta: &Metadata,
        vault: &str,
        production: bool,
        provider: Option<&str>,
    ) -> RecordView {
        RecordView::from(RecordViewRef {
            coordinate: &meta.coordinate,
            vault,
            env: meta.coordinate.env(),
            sensitivity: meta.sensitivity,
            revealable: meta.revealable,
            production,
            description: &meta.description,
            version: meta.version,
            created: meta.created,
            updated: meta.updated,
            totp: meta.totp,
            provider,
            provider_host: meta.provider_host.as_deref(),
            kind: meta.kind(),
            ssh_key: meta.ssh_key.as_ref(),
            database: meta.database.as_ref(),
        })
    }

    fn ours(meta: &Metadata, vault: &str, production: bool, provider: Option<&str>) -> Vec<u8> {
        let mut fixed = Vec::new();
        write_fixed(&mut fixed, meta);
        let mut out = Vec::new();
        ViewHead::new(vault).write(&mut out, production, &fixed, provider);
        out
    }

    #[test]
    fn a_view_is_the_json_value_serde_writes() {
        for (meta, vault, production, provider) in cases() {
            let bytes = ours(&meta, &vault, production, provider.as_deref());
            let view = serde_view(&meta, &vault, production, provider.as_deref());
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(value, serde_json::to_value(&view).unwrap());
            let back: RecordView = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, view);
        }
    }

    #[test]
    fn a_page_parses_as_serde_writes_it() {
        let all = cases();
        for n in [0, 1, all.len()] {
            let mut page = PAGE_OPEN.to_vec();
            let mut views = Vec::new();
            for (i, (meta, vault, production, provider)) in all[..n].iter().enumerate() {
                if i > 0 {
                    page.push(b',');
                }
                page.extend(ours(meta, vault, *production, provider.as_deref()));
                views.push(serde_view(meta, vault, *production, provider.as_deref()));
            }
            page.extend_from_slice(PAGE_CLOSE);
            let value: serde_json::Value = serde_json::from_slice(&page).unwrap();
            let serde_page = Page {
                items: views.clone(),
            };
            assert_eq!(value, serde_json::to_value(&serde_page).unwrap());
            let back: Page<RecordView> = serde_json::from_slice(&page).unwrap();
            assert_eq!(back.items, views);
        }
    }

    #[test]
    fn strings_are_copied_or_escaped_exactly_as_serde_does() {
        for s in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "\u{0}\u{1f}",
            "é\u{7f}\u{2028}",
        ] {
            let mut quoted = Vec::new();
            str(&mut quoted, s);
            assert_eq!(quoted, serde_json::to_vec(s).unwrap());
            let mut inner = Vec::new();
            str_contents(&mut inner, s);
            assert_eq!(inner, quoted[1..quoted.len() - 1]);
        }
    }
}
