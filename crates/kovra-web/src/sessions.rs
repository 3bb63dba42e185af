//! Login links and sessions: 32 random bytes each, kept in memory only, compared in constant
//! time against every entry (no early exit, no map keyed by the secret), bounded in number.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kovra_proto::Origin;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Config, WebError};

/// Whom a session acts for: the caller of `kovra ui` as the daemon saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// The origin the daemon observed for that caller: a web session never claims more.
    pub origin: Origin,
    pub pid: u32,
    pub uid: u32,
    pub exe: Option<String>,
}

type Token = [u8; 32];

struct Link {
    token: Token,
    who: Who,
    made: Instant,
}

struct Session {
    token: Token,
    who: Who,
    last_used: Instant,
    epoch: u64,
}

#[derive(Default)]
struct State {
    links: Vec<Link>,
    sessions: Vec<Session>,
}

pub(crate) struct Sessions {
    state: Mutex<State>,
    idle: Duration,
    login_ttl: Duration,
    max_sessions: usize,
    max_links: usize,
}

/// How a login went.
pub(crate) enum Login {
    /// The new session's cookie value (hex).
    Session(Zeroizing<String>, Who),
    /// No such link: never made, used already, or expired.
    Refused,
}

fn random() -> Result<Token, WebError> {
    let mut t = [0u8; 32];
    getrandom::fill(&mut t).map_err(|e| WebError::Random(e.to_string()))?;
    Ok(t)
}

/// The token a client presented, if it has the right shape.
fn parse(presented: &str) -> Option<Zeroizing<Token>> {
    if presented.len() != 64 {
        return None;
    }
    let mut t = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(presented, &mut t[..]).ok()?;
    Some(t)
}

/// The index of the entry whose token equals `presented`, comparing every entry.
fn find<'a>(tokens: impl Iterator<Item = &'a Token>, presented: &Token) -> Option<usize> {
    let mut found = None;
    for (i, t) in tokens.enumerate() {
        if bool::from(t.ct_eq(presented)) {
            found = Some(i);
        }
    }
    found
}

impl Sessions {
    pub fn new(config: &Config) -> Self {
        Sessions {
            state: Mutex::default(),
            idle: config.idle,
            login_ttl: config.login_ttl,
            max_sessions: config.max_sessions.max(1),
            max_links: config.max_links.max(1),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new login link's token (hex), for `who`.
    pub fn mint_link(&self, who: Who) -> Result<Zeroizing<String>, WebError> {
        let token = random()?;
        let mut state = self.state();
        let ttl = self.login_ttl;
        state.links.retain(|l| l.made.elapsed() < ttl);
        if state.links.len() >= self.max_links {
            state.links.remove(0);
        }
        state.links.push(Link {
            token,
            who,
            made: Instant::now(),
        });
        Ok(Zeroizing::new(hex::encode(token)))
    }

    /// Trade a link's token for a session: the link is gone whatever happens next.
    pub fn login(&self, presented: &str, epoch: u64) -> Result<Login, WebError> {
        let Some(presented) = parse(presented) else {
            return Ok(Login::Refused);
        };
        let cookie = random()?;
        let mut state = self.state();
        let Some(i) = find(state.links.iter().map(|l| &l.token), &presented) else {
            return Ok(Login::Refused);
        };
        let link = state.links.remove(i);
        if link.made.elapsed() >= self.login_ttl {
            return Ok(Login::Refused);
        }
        let idle = self.idle;
        state.sessions.retain(|s| s.last_used.elapsed() < idle);
        if state.sessions.len() >= self.max_sessions
            && let Some(oldest) = state
                .sessions
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i)
        {
            state.sessions.remove(oldest);
        }
        state.sessions.push(Session {
            token: cookie,
            who: link.who.clone(),
            last_used: Instant::now(),
            epoch,
        });
        Ok(Login::Session(
            Zeroizing::new(hex::encode(cookie)),
            link.who,
        ))
    }

    /// The session a cookie names, if it is alive; touching it.
    pub fn check(&self, presented: &str, epoch: u64) -> Option<Who> {
        let presented = parse(presented)?;
        let mut state = self.state();
        let i = find(state.sessions.iter().map(|s| &s.token), &presented)?;
        let s = &mut state.sessions[i];
        if s.epoch != epoch || s.last_used.elapsed() >= self.idle {
            state.sessions.remove(i);
            return None;
        }
        s.last_used = Instant::now();
        Some(s.who.clone())
    }

    /// End the session a cookie names.
    pub fn logout(&self, presented: &str) {
        let Some(presented) = parse(presented) else {
            return;
        };
        let mut state = self.state();
        if let Some(i) = find(state.sessions.iter().map(|s| &s.token), &presented) {
            state.sessions.remove(i);
        }
    }

    /// The live sessions (for the agents page): each one's origin, seconds idle, and whether
    /// it is the one `presented` names. No token leaves this table.
    pub fn live(&self, presented: &str, epoch: u64) -> Vec<(Origin, u64, bool)> {
        let presented = parse(presented);
        let state = self.state();
        state
            .sessions
            .iter()
            .filter(|s| s.epoch == epoch && s.last_used.elapsed() < self.idle)
            .map(|s| {
                let yours = presented
                    .as_ref()
                    .is_some_and(|p| find(std::iter::once(&s.token), p).is_some());
                (s.who.origin, s.last_used.elapsed().as_secs(), yours)
            })
            .collect()
    }

    pub fn clear(&self) {
        let mut state = self.state();
        state.links.clear();
        state.sessions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Who {
        Who {
            origin: Origin::Human,
            pid: 1,
            uid: 1,
            exe: None,
        }
    }

    fn sessions(max: usize) -> Sessions {
        Sessions::new(&Config {
            max_sessions: max,
            ..Config::default()
        })
    }

    fn cookie(s: &Sessions, epoch: u64) -> String {
        let link = s.mint_link(who()).unwrap();
        match s.login(&link, epoch).unwrap() {
            Login::Session(c, _) => c.to_string(),
            Login::Refused => panic!("refused"),
        }
    }

    #[test]
    fn a_link_works_once() {
        let s = sessions(4);
        let link = s.mint_link(who()).unwrap();
        assert!(matches!(s.login(&link, 0).unwrap(), Login::Session(..)));
        assert!(matches!(s.login(&link, 0).unwrap(), Login::Refused));
        assert!(matches!(s.login("zz", 0).unwrap(), Login::Refused));
    }

    #[test]
    fn sessions_die_with_the_epoch_and_by_eviction() {
        let s = sessions(2);
        let a = cookie(&s, 7);
        assert_eq!(s.check(&a, 7), Some(who()));
        assert_eq!(s.check(&a, 8), None);
        assert_eq!(s.check(&a, 7), None, "a dead session stays dead");
        let (b, c, d) = (cookie(&s, 7), cookie(&s, 7), cookie(&s, 7));
        assert_eq!(s.check(&b, 7), None, "the oldest was evicted");
        assert!(s.check(&c, 7).is_some() && s.check(&d, 7).is_some());
        let forged = "0".repeat(64);
        assert_eq!(s.check(&forged, 7), None);
        s.logout(&c);
        assert_eq!(s.check(&c, 7), None);
    }
}
