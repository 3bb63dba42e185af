//! `kovra_proto::frame`: length-prefixed JSON frames, read with the caps the daemon
//! (`Envelope`, `MAX_REQUEST`) and the client (`Response`, `MAX_REPLY`) use.

use kovra_proto::frame::{self, FrameError, MAX_REPLY, MAX_REQUEST};
use kovra_proto::{Envelope, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The daemon's side: a connection's bytes read as a sequence of request frames.
pub fn frame_request(data: &[u8]) {
    frames::<Envelope>(data, MAX_REQUEST);
}

/// The client's side: a connection's bytes read as a sequence of reply frames.
pub fn frame_response(data: &[u8]) {
    frames::<Response>(data, MAX_REPLY);
}

/// Read frames until the stream fails, as a peer would. A declared length over the cap is
/// refused as too large; a message that reads re-encodes to a frame that reads again, and
/// whose encoding is then stable (writing is a fixed point of reading).
fn frames<T: Serialize + DeserializeOwned>(data: &[u8], max: usize) {
    let mut stream = data;
    // A daemon serves a connection's frames one after another; a few are enough to
    // exercise reading after reading.
    for _ in 0..8 {
        let declared = stream
            .get(..4)
            .and_then(|h| <[u8; 4]>::try_from(h).ok())
            .map(|h| u32::from_be_bytes(h) as usize);
        match frame::read::<_, T>(&mut stream, max) {
            Ok(msg) => {
                assert!(declared.is_some_and(|d| d <= max));
                let mut first = Vec::new();
                assert!(
                    frame::write(&mut first, &msg).is_ok(),
                    "a read message writes"
                );
                if first.len() - 4 > max {
                    // Defaults filled in on the way can outgrow a frame near the cap.
                    continue;
                }
                let again = frame::read::<_, T>(&mut first.as_slice(), max);
                assert!(again.is_ok(), "a written frame reads again");
                let Ok(again) = again else { return };
                let mut second = Vec::new();
                assert!(frame::write(&mut second, &again).is_ok());
                assert!(first == second, "re-encoding a read frame is stable");
            }
            Err(FrameError::TooLarge(len, cap)) => {
                assert_eq!((Some(len), cap), (declared, max));
                assert!(len > max, "only a frame over the cap is too large");
                return;
            }
            Err(FrameError::Closed) => {
                assert!(declared.is_none(), "closed only before a whole length");
                return;
            }
            Err(FrameError::Io(_) | FrameError::Malformed(_)) => return,
        }
    }
}
