//! Streamed replies (`docs/protocol.md`, "Streamed replies"): a `ListStream` or
//! `AuditStream` request is answered with a small head frame, then its items in pages of at
//! most [`PAGE_ITEMS`], instead of one frame holding them all. Neither end then serializes,
//! buffers or parses a 25 MB frame for a vault of 100,000 records, and the client can print
//! each page as it comes.
//!
//! A trail is answered like its one-frame form (`Audit`) and cut into pages here. A listing
//! is answered with its head and a [`RecordsPlan`]: which of the kept records to show, by
//! index, with the two facts a view adds; the pages are written from each kept record's
//! view-independent JSON, rendered once and kept beside the listing, plus those facts
//! ([`kovra_proto::view_json`]). Refusals and errors are the usual single frame.

use std::io::Write;
use std::sync::Arc;

use kovra_core::store::Listing as Kept;
use kovra_proto::frame::{self, FrameError};
use kovra_proto::{
    Listing, PAGE_ITEMS, RecordView, RecordViewRef, Reply, Request, Response, view_json,
};
use serde::Serialize;

/// What a list shows, chosen by the handler under the state lock, written after it.
#[derive(Default)]
pub struct RecordsPlan {
    pub(crate) parts: Vec<VaultPart>,
    pub(crate) tampered: usize,
    pub(crate) missing: usize,
}

/// One vault's kept listing and the records of it shown, in order.
pub(crate) struct VaultPart {
    pub(crate) listing: Arc<Kept>,
    /// `global` or `project:NAME`.
    pub(crate) label: String,
    pub(crate) picked: Vec<Picked>,
}

/// A record shown: its index in the kept listing, and what its view adds to its metadata.
pub(crate) struct Picked {
    pub(crate) index: usize,
    pub(crate) production: bool,
    pub(crate) provider: Option<String>,
}

impl RecordsPlan {
    /// How many records are shown.
    pub fn total(&self) -> usize {
        self.parts.iter().map(|p| p.picked.len()).sum()
    }

    /// The shown records' views, borrowed from the kept metadata.
    fn views(&self) -> impl Iterator<Item = RecordViewRef<'_>> {
        self.parts.iter().flat_map(|part| {
            part.picked.iter().filter_map(move |p| {
                let m = &part.listing.records.get(p.index)?.meta;
                Some(RecordViewRef {
                    coordinate: &m.coordinate,
                    vault: &part.label,
                    env: m.coordinate.env(),
                    sensitivity: m.sensitivity,
                    revealable: m.revealable,
                    production: p.production,
                    description: &m.description,
                    version: m.version,
                    created: m.created,
                    updated: m.updated,
                    totp: m.totp,
                    provider: p.provider.as_deref(),
                    provider_host: m.provider_host.as_deref(),
                    kind: m.kind(),
                    ssh_key: m.ssh_key.as_ref(),
                    database: m.database.as_ref(),
                })
            })
        })
    }

    /// The one-frame `records` reply of the same records.
    pub fn into_listing(self) -> Listing {
        let records = self.views().map(RecordView::from).collect();
        Listing {
            records,
            tampered: self.tampered,
            missing: self.missing,
        }
    }
}

/// The pages of a listing's stream, after its head. A long one gives back what its
/// pages (and the listing opened for it, on a first list) left in the allocator.
pub fn write_records<W: Write>(w: &mut W, plan: &RecordsPlan) -> Result<(), FrameError> {
    let written = write_pages(w, plan);
    if plan.total() > PAGE_ITEMS {
        crate::os::release_free_memory();
    }
    written
}

/// The part of a record's view that does not depend on who asks, as `list` pages carry it.
fn render_fixed(record: &kovra_core::store::Record, out: &mut Vec<u8>) {
    view_json::write_fixed(out, &record.meta);
}

/// Open and render every vault's listing at unlock, and keep them (`kovra_core::store::listed`)
/// as a `list` would. The first `list` of a large vault then costs what every later one does
/// (at 100,000 records, opening them is most of a second), and what the daemon holds at rest
/// while unlocked is what it holds after any list: the pages a list streams are given back,
/// so its memory returns to this level. A vault that cannot be opened is left to the `list`
/// that asks for it, which reports why.
pub fn keep_listings(store: &mut kovra_core::store::UnlockedStore) {
    let Ok(vaults) = store.vaults() else {
        return;
    };
    for vault in vaults {
        if let Ok(listing) = store.list_shared(&vault) {
            listing.rendered(render_fixed);
        }
    }
    crate::os::release_free_memory();
}

/// Each page is written by hand ([`kovra_proto::view_json`]): per record, its vault's head,
/// the fixed part of its view rendered once when its listing was first streamed and kept
/// with it (`kovra_core::store::Rendered`; about the listing's JSON size again, dropped
/// with the listing on a write or a lock), and the provider its view shows.
fn write_pages<W: Write>(w: &mut W, plan: &RecordsPlan) -> Result<(), FrameError> {
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    let mut in_page = 0usize;
    for part in &plan.parts {
        let head = view_json::ViewHead::new(&part.label);
        let fixed = part.listing.rendered(render_fixed);
        for p in &part.picked {
            let Some(bytes) = fixed.get(p.index) else {
                continue;
            };
            if in_page == 0 {
                frame::start(&mut buf);
                buf.extend_from_slice(view_json::PAGE_OPEN);
            } else {
                buf.push(b',');
            }
            head.write(&mut buf, p.production, bytes, p.provider.as_deref());
            in_page += 1;
            if in_page == PAGE_ITEMS {
                send_page(w, &mut buf)?;
                in_page = 0;
            }
        }
    }
    if in_page > 0 {
        send_page(w, &mut buf)?;
    }
    Ok(())
}

fn send_page<W: Write>(w: &mut W, buf: &mut zeroize::Zeroizing<Vec<u8>>) -> Result<(), FrameError> {
    buf.extend_from_slice(view_json::PAGE_CLOSE);
    frame::send(w, buf)
}

/// Whether `request` asked for its reply as a stream.
pub fn is_streamed(request: &Request) -> bool {
    matches!(
        request,
        Request::ListStream { .. } | Request::AuditStream { .. }
    )
}

/// A page as [`kovra_proto::Page`] serializes it, borrowing its items.
#[derive(Serialize)]
struct PageOut<'a, T> {
    items: &'a [T],
}

/// Write `response`: streamed when `streamed` and it carries a listing or a trail, else as
/// one frame. A large reply gives its memory back to the system once written.
pub fn write_response<W: Write>(
    w: &mut W,
    response: Response,
    streamed: bool,
) -> Result<(), FrameError> {
    let large = match &response {
        Response::Ok { reply } => match reply.as_ref() {
            Reply::Records(l) => l.records.len() > PAGE_ITEMS,
            Reply::Audit { entries } => entries.len() > PAGE_ITEMS,
            _ => false,
        },
        _ => false,
    };
    let written = write_either(w, response, streamed);
    if large {
        // The items are dropped by now; glibc would keep their pages in its arenas.
        crate::os::release_free_memory();
    }
    written
}

fn write_either<W: Write>(w: &mut W, response: Response, streamed: bool) -> Result<(), FrameError> {
    let reply = match response {
        Response::Ok { reply } if streamed => reply,
        other => return frame::write(w, &other),
    };
    match *reply {
        Reply::Records(listing) => {
            let head = Reply::RecordsStream {
                total: listing.records.len(),
                tampered: listing.tampered,
                missing: listing.missing,
            };
            write_stream(w, head, &listing.records)
        }
        Reply::Audit { entries } => {
            let head = Reply::AuditStream {
                total: entries.len(),
            };
            write_stream(w, head, &entries)
        }
        other => frame::write(
            w,
            &Response::Ok {
                reply: Box::new(other),
            },
        ),
    }
}

fn write_stream<W: Write, T: Serialize>(
    w: &mut W,
    head: Reply,
    items: &[T],
) -> Result<(), FrameError> {
    frame::write(
        w,
        &Response::Ok {
            reply: Box::new(head),
        },
    )?;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    for page in items.chunks(PAGE_ITEMS) {
        frame::write_reusing(w, &PageOut { items: page }, &mut buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kovra_proto::frame::MAX_REPLY;
    use kovra_proto::{Listing, Page, RecordView, Sensitivity};

    fn record(i: usize) -> RecordView {
        RecordView {
            coordinate: format!("secret:dev/g/K{i}"),
            vault: "global".into(),
            env: "dev".into(),
            sensitivity: Sensitivity::Low,
            revealable: true,
            production: false,
            description: String::new(),
            version: 1,
            created: 1,
            updated: 1,
            totp: None,
            provider: None,
            provider_host: None,
            kind: Default::default(),
            ssh_key: None,
            database: None,
        }
    }

    #[test]
    fn a_listing_streams_as_a_head_and_its_pages() {
        for total in [0, 1, PAGE_ITEMS, PAGE_ITEMS + 1, 2 * PAGE_ITEMS + 7] {
            let records: Vec<RecordView> = (0..total).map(record).collect();
            let response = Response::Ok {
                reply: Box::new(Reply::Records(Listing {
                    records: records.clone(),
                    tampered: 2,
                    missing: 1,
                })),
            };
            let mut wire = Vec::new();
            write_response(&mut wire, response, true).unwrap();
            let mut r = wire.as_slice();
            let head: Response = frame::read(&mut r, MAX_REPLY).unwrap();
            let Response::Ok { reply } = head else {
                panic!("not ok")
            };
            let Reply::RecordsStream {
                total: t,
                tampered: 2,
                missing: 1,
            } = *reply
            else {
                panic!("not a records-stream head")
            };
            assert_eq!(t, total);
            let mut back = Vec::new();
            for _ in 0..kovra_proto::pages_for(t) {
                let page: Page<RecordView> = frame::read(&mut r, MAX_REPLY).unwrap();
                assert!(page.items.len() <= PAGE_ITEMS);
                back.extend(page.items);
            }
            assert!(r.is_empty());
            assert_eq!(back, records);
        }
    }

    #[test]
    fn a_plan_pages_its_picked_records_as_their_views() {
        use kovra_core::coord::Coordinate;
        use kovra_core::model::{Metadata, VaultName};
        use kovra_core::store::Record;
        let n = 2 * PAGE_ITEMS + 7;
        let mut kept = Kept::default();
        kept.records = (0..n)
            .map(|i| Record {
                vault: VaultName::Global,
                meta: Metadata {
                    coordinate: Coordinate::parse(&format!("secret:dev/g/K{i}")).unwrap(),
                    sensitivity: Sensitivity::Low,
                    revealable: true,
                    description: String::new(),
                    created: 1,
                    updated: 1,
                    version: 1,
                    totp: None,
                    provider: None,
                    provider_host: None,
                    ssh_key: None,
                    database: None,
                },
            })
            .collect();
        // Every other record, the first one pinned by a claim.
        let picked: Vec<Picked> = (0..n)
            .step_by(2)
            .map(|index| Picked {
                index,
                production: false,
                provider: (index == 0).then(|| "github".to_string()),
            })
            .collect();
        let plan = RecordsPlan {
            parts: vec![VaultPart {
                listing: Arc::new(kept),
                label: "global".into(),
                picked,
            }],
            tampered: 0,
            missing: 0,
        };
        let mut wire = Vec::new();
        write_records(&mut wire, &plan).unwrap();
        let mut want: Vec<RecordView> = (0..n).step_by(2).map(record).collect();
        want[0].provider = Some("github".into());
        let mut r = wire.as_slice();
        let mut back = Vec::new();
        for chunk in want.chunks(PAGE_ITEMS) {
            let raw = frame::read_raw(&mut r, MAX_REPLY).unwrap();
            // The page as JSON is the page of `RecordView`s serde would write.
            let page: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            let serde_form = serde_json::to_value(Page {
                items: chunk.to_vec(),
            })
            .unwrap();
            assert_eq!(page, serde_form);
            let page: Page<RecordView> = serde_json::from_slice(&raw).unwrap();
            back.extend(page.items);
        }
        assert!(r.is_empty());
        assert_eq!(back, want);
        // The fixed parts were rendered once and kept with the listing: a second stream
        // reuses them and writes the same bytes.
        let rendered = plan.parts[0].listing.rendering().map(|r| r as *const _);
        assert!(rendered.is_some());
        let mut again = Vec::new();
        write_records(&mut again, &plan).unwrap();
        assert_eq!(again, wire);
        let still = plan.parts[0].listing.rendering().map(|r| r as *const _);
        assert_eq!(rendered, still);
        assert_eq!(plan.into_listing().records, want);
    }

    /// Pages run across vaults: each view carries its own vault's label and facts, and the
    /// stream holds the same JSON values as the one-frame reply of the same plan.
    #[test]
    fn pages_span_vaults_and_match_the_one_frame_reply() {
        use kovra_core::coord::Coordinate;
        use kovra_core::model::{Metadata, VaultName};
        use kovra_core::store::Record;
        let part = |label: &str, n: usize, production: bool| {
            let mut kept = Kept::default();
            kept.records = (0..n)
                .map(|i| Record {
                    vault: VaultName::Global,
                    meta: Metadata {
                        coordinate: Coordinate::parse(&format!("secret:prod/g/K{i}")).unwrap(),
                        sensitivity: Sensitivity::High,
                        revealable: i % 2 == 0,
                        description: format!("record \"{i}\"\n"),
                        created: i as u64,
                        updated: 2 * i as u64,
                        version: 3,
                        totp: None,
                        provider: None,
                        provider_host: (i % 3 == 0).then(|| "api.example.com".to_string()),
                        ssh_key: None,
                        database: None,
                    },
                })
                .collect();
            VaultPart {
                listing: Arc::new(kept),
                label: label.into(),
                picked: (0..n)
                    .map(|index| Picked {
                        index,
                        production,
                        provider: (index % 5 == 0).then(|| "p".to_string()),
                    })
                    .collect(),
            }
        };
        let plan = RecordsPlan {
            parts: vec![
                part("global", PAGE_ITEMS - 3, false),
                part("project:app", 10, true),
            ],
            tampered: 0,
            missing: 0,
        };
        let mut wire = Vec::new();
        write_records(&mut wire, &plan).unwrap();
        let mut r = wire.as_slice();
        let mut streamed = Vec::new();
        for _ in 0..kovra_proto::pages_for(plan.total()) {
            let raw = frame::read_raw(&mut r, MAX_REPLY).unwrap();
            let page: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            streamed.extend(page["items"].as_array().unwrap().iter().cloned());
        }
        assert!(r.is_empty());
        let one_frame: Vec<serde_json::Value> = plan
            .into_listing()
            .records
            .iter()
            .map(|v| serde_json::to_value(v).unwrap())
            .collect();
        assert_eq!(streamed.len(), PAGE_ITEMS + 7);
        assert_eq!(streamed, one_frame);
    }

    #[test]
    fn an_unstreamed_request_gets_one_frame() {
        let response = Response::Ok {
            reply: Box::new(Reply::Records(Listing {
                records: vec![record(1)],
                tampered: 0,
                missing: 0,
            })),
        };
        let mut wire = Vec::new();
        write_response(&mut wire, response, false).unwrap();
        let mut r = wire.as_slice();
        let one: Response = frame::read(&mut r, MAX_REPLY).unwrap();
        assert!(matches!(one, Response::Ok { reply } if matches!(*reply, Reply::Records(_))));
        assert!(r.is_empty());
    }
}
