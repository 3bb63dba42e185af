//! Bodies on both legs, streamed and never collected: a request body scanned for foreign
//! placeholders on its way up, and a response body scrubbed of values on its way down.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use kovra_redact::Redactor;

use crate::runs::Live;
use crate::scan::first_in;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every body the proxy hands to hyper. Unsync: a streaming body may hold a timer (pitfall 5).
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn empty() -> Body {
    full(Bytes::new())
}

pub(crate) fn boxed<B>(b: B) -> Body
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    b.map_err(Into::into).boxed_unsync()
}

/// The request body stopped because it carried a placeholder where it does not belong.
#[derive(Debug)]
pub(crate) struct MisuseInBody;

impl std::fmt::Display for MisuseInBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a placeholder in the request body")
    }
}

impl std::error::Error for MisuseInBody {}

/// Called once, with the placeholder found.
pub(crate) type OnHit = Box<dyn FnOnce(&Live) + Send>;

/// What a streamed body does to each data chunk on its way, and to what it still holds at
/// the end: one poll loop ([`Passing`]) serves the request scan and the response scrub.
trait Pass: Send + Unpin + 'static {
    /// The bytes to send now for `data` (empty: nothing yet), or an error that ends the body.
    fn chunk(&mut self, data: &[u8]) -> Result<Bytes, BoxError>;
    /// What is still held back when the stream ends.
    fn finish(&mut self) -> Bytes;
    /// Whether the bytes that go out are the bytes that came in (the size hint stays true,
    /// so a request keeps its content-length).
    fn keeps_length(&self) -> bool;
}

/// A body passed through `P`, chunk by chunk, in the poll that reads it. Trailers are
/// dropped: nothing goes out that did not pass.
struct Passing<P> {
    inner: Body,
    pass: P,
    done: bool,
}

impl<P: Pass> HttpBody for Passing<P> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match this.pass.chunk(&data) {
                        Ok(out) if out.is_empty() => {}
                        Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                        Err(e) => {
                            this.done = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let rest = this.pass.finish();
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.pass.keeps_length() {
            self.inner.size_hint()
        } else {
            SizeHint::default()
        }
    }
}

/// Looks for `foreign` placeholders in a request body. The last (longest placeholder − 1)
/// bytes are held back until the next chunk, so no part of a placeholder leaves before it
/// could be recognised; on a hit the body fails, which aborts the upstream request.
struct Scan {
    foreign: Vec<Live>,
    hold: usize,
    carry: Vec<u8>,
    on_hit: Option<OnHit>,
}

impl Pass for Scan {
    fn chunk(&mut self, data: &[u8]) -> Result<Bytes, BoxError> {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        if let Some(hit) = first_in(&buf, &self.foreign) {
            if let Some(report) = self.on_hit.take() {
                report(hit);
            }
            return Err(Box::new(MisuseInBody));
        }
        let cut = buf.len().saturating_sub(self.hold);
        self.carry = buf.split_off(cut);
        Ok(Bytes::from(buf))
    }

    fn finish(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.carry))
    }

    fn keeps_length(&self) -> bool {
        true
    }
}

/// `body`, failing (and reporting through `on_hit`) where a placeholder of `foreign` appears.
pub(crate) fn scanned(body: Body, foreign: Vec<Live>, on_hit: OnHit) -> Body {
    let hold = foreign
        .iter()
        .map(|l| l.placeholder().len())
        .max()
        .unwrap_or(1)
        .saturating_sub(1);
    let pass = Scan {
        foreign,
        hold,
        carry: Vec::new(),
        on_hit: Some(on_hit),
    };
    Passing {
        inner: body,
        pass,
        done: false,
    }
    .boxed_unsync()
}

/// Masks every form of the redactor's values in a response body.
struct Scrub {
    stream: kovra_redact::Stream<Arc<Redactor>>,
    /// The next chunk's output.
    out: Vec<u8>,
}

impl Pass for Scrub {
    fn chunk(&mut self, data: &[u8]) -> Result<Bytes, BoxError> {
        self.out.clear();
        self.stream.push(data, &mut self.out);
        if self.out.is_empty() {
            return Ok(Bytes::new());
        }
        // Hand the buffer over rather than copy it; the next chunk gets a fresh one.
        let next = Vec::with_capacity(self.out.capacity());
        Ok(Bytes::from(std::mem::replace(&mut self.out, next)))
    }

    fn finish(&mut self) -> Bytes {
        self.out.clear();
        self.stream.finish(&mut self.out);
        Bytes::from(std::mem::take(&mut self.out))
    }

    fn keeps_length(&self) -> bool {
        false
    }
}

/// `body` with every form of the redactor's values masked, chunk by chunk as it arrives.
pub(crate) fn scrubbed(body: Body, redactor: Arc<Redactor>) -> Body {
    let pass = Scrub {
        stream: kovra_redact::Stream::over(redactor),
        out: Vec::new(),
    };
    Passing {
        inner: body,
        pass,
        done: false,
    }
    .boxed_unsync()
}
