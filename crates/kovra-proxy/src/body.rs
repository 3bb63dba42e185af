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

/// Passes a request body through while looking for `foreign` placeholders. The last
/// (longest placeholder − 1) bytes are held back until the next chunk, so no part of a
/// placeholder leaves before it could be recognised; on a hit the body fails, which aborts
/// the upstream request.
pub(crate) struct ScanBody {
    inner: Body,
    foreign: Arc<Vec<Live>>,
    hold: usize,
    carry: Vec<u8>,
    on_hit: Option<OnHit>,
    done: bool,
}

impl ScanBody {
    pub(crate) fn new(inner: Body, foreign: Vec<Live>, on_hit: OnHit) -> ScanBody {
        let hold = foreign
            .iter()
            .map(|l| l.placeholder().len())
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        ScanBody {
            inner,
            foreign: Arc::new(foreign),
            hold,
            carry: Vec::new(),
            on_hit: Some(on_hit),
            done: false,
        }
    }
}

impl HttpBody for ScanBody {
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
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(f) => f,
            };
            match frame {
                Some(Ok(frame)) => {
                    // Trailers are dropped: nothing is sent that was not scanned.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let mut buf = std::mem::take(&mut this.carry);
                    buf.extend_from_slice(&data);
                    if let Some(hit) = first_in(&buf, &this.foreign) {
                        if let Some(report) = this.on_hit.take() {
                            report(hit);
                        }
                        this.done = true;
                        return Poll::Ready(Some(Err(Box::new(MisuseInBody))));
                    }
                    let cut = buf.len().saturating_sub(this.hold);
                    this.carry = buf.split_off(cut);
                    if !buf.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
                    }
                }
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    this.done = true;
                    let rest = std::mem::take(&mut this.carry);
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        // The same bytes go out as come in.
        self.inner.size_hint()
    }
}

/// A response body with every form of the redactor's values masked, chunk by chunk as it
/// arrives, in the poll that reads it: no task, no channel, no extra hop between threads.
struct ScrubBody {
    inner: Body,
    stream: kovra_redact::Stream<Arc<Redactor>>,
    /// The next chunk's output.
    out: Vec<u8>,
    done: bool,
}

impl HttpBody for ScrubBody {
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
                    // Trailers are dropped: nothing is sent that was not scrubbed.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.out.clear();
                    this.stream.push(&data, &mut this.out);
                    if !this.out.is_empty() {
                        // Hand the buffer over rather than copy it; the next chunk gets a
                        // fresh one of the same size.
                        let next = Vec::with_capacity(this.out.capacity());
                        let chunk = Bytes::from(std::mem::replace(&mut this.out, next));
                        return Poll::Ready(Some(Ok(Frame::data(chunk))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    this.out.clear();
                    this.stream.finish(&mut this.out);
                    if this.out.is_empty() {
                        return Poll::Ready(None);
                    }
                    let rest = Bytes::from(std::mem::take(&mut this.out));
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// `body` with every form of the redactor's values masked, chunk by chunk as it arrives.
pub(crate) fn scrubbed(body: Body, redactor: Arc<Redactor>) -> Body {
    ScrubBody {
        inner: body,
        stream: kovra_redact::Stream::over(redactor),
        out: Vec::new(),
        done: false,
    }
    .boxed_unsync()
}
