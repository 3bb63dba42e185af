//! The `list` tool's pages. MCP paginates its own list operations (`tools/list`, …) with an
//! opaque `cursor` in the request and a `nextCursor` in the result; a tool's result has no
//! such field, so `list` follows the same convention in its own terms: a `cursor` argument
//! and a `next_cursor` in its structured result, the page size the server's to choose
//! (`limit` only asks for fewer). The text content is a one-line summary that says where
//! the records are and how to get the next page: the records themselves travel once.
//!
//! The cursor names the last record of the page (vault and coordinate), not a position, so
//! a record added or removed between two calls never shifts a later page: the next page
//! starts after that record wherever it now sits. It is tied to the `env` filter it was made
//! under. It is opaque to the agent (base64url of a small JSON object) and says nothing the
//! page it came with did not show.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kovra_proto::Listing;
use serde::{Deserialize, Serialize};

use crate::outcome::{Failure, invalid};
use crate::results::{ListColumns, ListOut, RecordOut};

/// Records in a page when the agent does not ask for fewer.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The most records one page holds, whatever `limit` asks.
pub(crate) const MAX_LIMIT: usize = 1000;
/// Longest cursor accepted (bytes): a vault label and a coordinate, encoded.
const MAX_CURSOR: usize = 4096;

/// Where the next page starts, and the filter the listing was made under.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// After this record: (vault, coordinate).
    after: (String, String),
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<String>,
}

impl Cursor {
    fn encode(&self) -> String {
        // Two strings in a struct: serialising cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, env: Option<&str>) -> Result<Cursor, Failure> {
        let refused = || {
            invalid(
                "cursor is not a `next_cursor` that list returned: pass it unchanged, with the same `env`, or omit it for the first page",
            )
        };
        if text.len() > MAX_CURSOR {
            return Err(refused());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| refused())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| refused())?;
        if cursor.env.as_deref() != env {
            return Err(refused());
        }
        Ok(cursor)
    }
}

/// The page the agent asked for.
pub(crate) struct PageRequest {
    env: Option<String>,
    after: Option<(String, String)>,
    limit: usize,
}

impl PageRequest {
    /// Check `cursor` and `limit` before anything reaches the daemon.
    pub(crate) fn new(
        env: Option<String>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Self, Failure> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(0) => return Err(invalid("limit must be at least 1")),
            Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        };
        let after = cursor
            .map(|c| Cursor::decode(c, env.as_deref()))
            .transpose()?
            .map(|c| c.after);
        Ok(PageRequest { env, after, limit })
    }

    /// The `env` filter, for the daemon's request.
    pub(crate) fn env(&self) -> Option<String> {
        self.env.clone()
    }

    /// This page of `listing` (ordered by vault, then coordinate), and the cursor of the
    /// next one when more records follow.
    pub(crate) fn page(&self, mut listing: Listing) -> ListOut {
        let key = |r: &kovra_proto::RecordView| (r.vault.clone(), r.coordinate.clone());
        let sorted = listing.records.is_sorted_by(|a, b| {
            (a.vault.as_str(), a.coordinate.as_str()) <= (b.vault.as_str(), b.coordinate.as_str())
        });
        if !sorted {
            listing.records.sort_by_cached_key(key);
        }
        let total = listing.records.len();
        let start = self.after.as_ref().map_or(0, |(vault, coordinate)| {
            listing.records.partition_point(|r| {
                (r.vault.as_str(), r.coordinate.as_str()) <= (vault.as_str(), coordinate.as_str())
            })
        });
        let end = start.saturating_add(self.limit).min(total);
        let next_cursor = (end < total && end > start).then(|| {
            let last = &listing.records[end - 1];
            Cursor {
                after: key(last),
                env: self.env.clone(),
            }
            .encode()
        });
        let records = listing
            .records
            .drain(start.min(total)..end)
            .map(RecordOut::from)
            .collect();
        ListOut {
            columns: ListColumns,
            records,
            tampered: listing.tampered,
            missing: listing.missing,
            total,
            first: start + 1,
            next_cursor,
        }
    }
}

/// The text content of a `list` result: what it holds and where, never the records again.
pub(crate) fn summary(out: &ListOut, env: Option<&str>) -> String {
    let shown = out.records.len();
    let mut text = if shown == out.total {
        format!(
            "{shown} record{} in this result's structured content (`records`)",
            plural(shown)
        )
    } else if shown == 0 {
        format!(
            "no records after the cursor; the listing holds {} record{}",
            out.total,
            plural(out.total)
        )
    } else {
        format!(
            "records {}–{} of {} in this result's structured content (`records`)",
            out.first,
            out.first + shown - 1,
            out.total
        )
    };
    if out.tampered > 0 || out.missing > 0 {
        text.push_str(&format!(
            "; {} withheld (failed authentication), {} missing from the database",
            out.tampered, out.missing
        ));
    }
    match &out.next_cursor {
        Some(cursor) => {
            // JSON-quoted: an `env` holding a quote still reads as the arguments to pass.
            let quoted = |v: &str| serde_json::Value::from(v).to_string();
            let env = env.map_or(String::new(), |e| format!(", \"env\": {}", quoted(e)));
            text.push_str(&format!(
                "; next page: call list with {{\"cursor\": {}{env}}}",
                quoted(cursor)
            ));
        }
        None => text.push_str("; no more pages"),
    }
    text
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use kovra_proto::{RecordView, Sensitivity};

    fn record(vault: &str, coordinate: &str) -> RecordView {
        RecordView {
            coordinate: coordinate.into(),
            vault: vault.into(),
            env: "dev".into(),
            sensitivity: Sensitivity::Low,
            revealable: false,
            production: false,
            description: String::new(),
            version: 1,
            created: 0,
            updated: 0,
            totp: None,
            provider: None,
            provider_host: None,
            kind: Default::default(),
            ssh_key: None,
            database: None,
        }
    }

    fn listing(n: usize) -> Listing {
        Listing {
            records: (0..n)
                .map(|i| record("project:app", &format!("secret:dev/g/k{i:04}")))
                .collect(),
            tampered: 0,
            missing: 0,
        }
    }

    fn coordinates(out: &ListOut) -> Vec<String> {
        out.records.iter().map(|r| r.coordinate.clone()).collect()
    }

    #[test]
    fn pages_walk_the_listing_once_in_order() {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let req = PageRequest::new(None, cursor.as_deref(), Some(7)).unwrap();
            let out = req.page(listing(30));
            assert_eq!(out.total, 30);
            seen.extend(coordinates(&out));
            pages += 1;
            match out.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 5);
        assert_eq!(
            seen,
            coordinates(
                &PageRequest::new(None, None, Some(1000))
                    .unwrap()
                    .page(listing(30))
            )
        );
    }

    #[test]
    fn a_record_removed_between_pages_shifts_nothing() {
        let first = PageRequest::new(None, None, Some(10))
            .unwrap()
            .page(listing(30));
        let cursor = first.next_cursor.unwrap();
        let mut changed = listing(30);
        // One record of the first page goes, and the one the cursor names.
        changed.records.remove(3);
        changed.records.remove(8);
        assert_eq!(changed.records[7].coordinate, "secret:dev/g/k0008");
        let second = PageRequest::new(None, Some(&cursor), Some(10))
            .unwrap()
            .page(changed);
        assert_eq!(second.records[0].coordinate, "secret:dev/g/k0010");
    }

    #[test]
    fn unsorted_listings_are_ordered_by_vault_then_coordinate() {
        let l = Listing {
            records: vec![
                record("project:app", "secret:dev/b"),
                record("global", "secret://global/dev/z"),
                record("project:app", "secret:dev/a"),
            ],
            tampered: 0,
            missing: 0,
        };
        let out = PageRequest::new(None, None, None).unwrap().page(l);
        assert_eq!(
            coordinates(&out),
            ["secret://global/dev/z", "secret:dev/a", "secret:dev/b"]
        );
        assert!(out.next_cursor.is_none());
    }

    #[test]
    fn a_cursor_made_for_another_filter_or_forged_is_refused() {
        let out = PageRequest::new(Some("dev".into()), None, Some(2))
            .unwrap()
            .page(listing(5));
        let cursor = out.next_cursor.unwrap();
        assert!(PageRequest::new(Some("dev".into()), Some(&cursor), None).is_ok());
        assert!(PageRequest::new(None, Some(&cursor), None).is_err());
        assert!(PageRequest::new(Some("staging".into()), Some(&cursor), None).is_err());
        assert!(PageRequest::new(None, Some("not base64!"), None).is_err());
        assert!(PageRequest::new(None, Some(&"A".repeat(5000)), None).is_err());
        assert!(PageRequest::new(None, None, Some(0)).is_err());
    }

    #[test]
    fn limits_are_capped_and_defaulted() {
        let out = PageRequest::new(None, None, None)
            .unwrap()
            .page(listing(250));
        assert_eq!(out.records.len(), DEFAULT_LIMIT);
        let out = PageRequest::new(None, None, Some(u32::MAX))
            .unwrap()
            .page(listing(1500));
        assert_eq!(out.records.len(), MAX_LIMIT);
    }

    #[test]
    fn the_summary_points_at_the_structured_records_and_the_next_page() {
        let out = PageRequest::new(Some("dev".into()), None, Some(10))
            .unwrap()
            .page(listing(12));
        let text = summary(&out, Some("dev"));
        assert!(
            text.starts_with("records 1–10 of 12 in this result's structured content"),
            "{text}"
        );
        let cursor = out.next_cursor.as_deref().unwrap();
        assert!(
            text.contains(&format!("{{\"cursor\": \"{cursor}\", \"env\": \"dev\"}}")),
            "{text}"
        );
        assert!(
            !text.contains("secret:dev/g/k0001"),
            "records repeated in the text: {text}"
        );
        let odd = PageRequest::new(Some("a\"b".into()), None, Some(1))
            .unwrap()
            .page(listing(2));
        let text = summary(&odd, Some("a\"b"));
        let args = text.split("call list with ").nth(1).unwrap();
        let args: serde_json::Value = serde_json::from_str(args).unwrap();
        assert_eq!(args["env"], "a\"b", "{text}");
        let all = PageRequest::new(None, None, None).unwrap().page(listing(1));
        assert_eq!(
            summary(&all, None),
            "1 record in this result's structured content (`records`); no more pages"
        );
    }
}
