//! Pending proof-of-presence challenges. A challenge approves exactly one request digest,
//! once, within a short window; nothing on disk can stand in for it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kovra_core::crypto;

pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);
const MAX_PENDING: usize = 64;

struct Pending {
    digest: [u8; 32],
    expires: Instant,
}

#[derive(Default)]
pub struct Challenges {
    pending: HashMap<String, Pending>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// Unknown, expired or already used.
    Unknown,
    /// The challenge was issued for a different request.
    WrongRequest,
}

impl Challenges {
    /// Issue a challenge for one request digest.
    pub fn issue(&mut self, digest: [u8; 32]) -> String {
        let now = Instant::now();
        self.pending.retain(|_, p| p.expires > now);
        if self.pending.len() >= MAX_PENDING {
            // Drop the oldest, so a flood of requests cannot grow memory.
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
            {
                self.pending.remove(&oldest);
            }
        }
        let id = hex::encode(crypto::random_array::<16>());
        self.pending.insert(
            id.clone(),
            Pending {
                digest,
                expires: now + CHALLENGE_TTL,
            },
        );
        id
    }

    /// Take a challenge out (single use), checking it is live and was issued for `digest`.
    /// It is consumed even when the proof that follows turns out wrong.
    pub fn take(&mut self, id: &str, digest: &[u8; 32]) -> Result<(), ChallengeError> {
        let Some(p) = self.pending.remove(id) else {
            return Err(ChallengeError::Unknown);
        };
        if p.expires <= Instant::now() {
            return Err(ChallengeError::Unknown);
        }
        if !crypto::mac_eq(&p.digest, digest) {
            return Err(ChallengeError::WrongRequest);
        }
        Ok(())
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_and_bound_to_digest() {
        let mut c = Challenges::default();
        let id = c.issue([1; 32]);
        assert_eq!(c.take(&id, &[2; 32]), Err(ChallengeError::WrongRequest));
        let id = c.issue([1; 32]);
        assert_eq!(c.take(&id, &[1; 32]), Ok(()));
        assert_eq!(c.take(&id, &[1; 32]), Err(ChallengeError::Unknown));
        assert_eq!(c.take("nope", &[1; 32]), Err(ChallengeError::Unknown));
    }
}
