//! Streamed replies (`docs/protocol.md`, "Streamed replies"): a `ListStream` or
//! `AuditStream` request is answered with a small head frame, then its items in pages of at
//! most [`PAGE_ITEMS`], instead of one frame holding them all. Neither end then serializes,
//! buffers or parses a 25 MB frame for a vault of 100,000 records, and the client can print
//! each page as it comes.
//!
//! The handler answers these requests like their one-frame forms (`List`, `Audit`); only
//! the writing differs, here. Refusals and errors are the usual single frame.

use std::io::Write;

use kovra_proto::frame::{self, FrameError};
use kovra_proto::{PAGE_ITEMS, Reply, Request, Response};
use serde::Serialize;

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
    let reply = match response {
        Response::Ok { reply } if streamed => reply,
        other => return frame::write(w, &other),
    };
    let large = match *reply {
        Reply::Records(listing) => {
            let head = Reply::RecordsStream {
                total: listing.records.len(),
                tampered: listing.tampered,
                missing: listing.missing,
            };
            write_stream(w, head, &listing.records)?;
            listing.records.len() > PAGE_ITEMS
        }
        Reply::Audit { entries } => {
            let head = Reply::AuditStream {
                total: entries.len(),
            };
            write_stream(w, head, &entries)?;
            entries.len() > PAGE_ITEMS
        }
        other => {
            return frame::write(
                w,
                &Response::Ok {
                    reply: Box::new(other),
                },
            );
        }
    };
    if large {
        // The items are dropped by now; glibc would keep their pages in its arenas.
        crate::os::release_free_memory();
    }
    Ok(())
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
    for page in items.chunks(PAGE_ITEMS) {
        frame::write(w, &PageOut { items: page })?;
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
