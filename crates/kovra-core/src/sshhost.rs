//! Hosts that brokered ssh commands (`kovra ssh`, the MCP `ssh` tool) may reach, and what
//! runs there unattended. A host is written by a human with a proof of presence (its key is
//! pinned then) and kept sealed in the system vault; this module is its model and the pure
//! checks on it: names, addresses, users, and command patterns.
//!
//! A command reaches the remote user's shell as one string, so a pattern must never match
//! more than its author could read off it. A command holding anything but *plain* characters
//! (letters, digits, space and `_./:=@%+,-`) matches no pattern: no `;`, `|`, `$`, quotes,
//! backquotes, redirections, globs or newlines. Both are then compared word by word:
//! - a word without `*` matches itself;
//! - a word with `*` matches one word, `*` standing for any plain characters; the word may
//!   not start with `-` (an option) unless the pattern's word does, nor hold `..` unless the
//!   pattern's word does: `cat /var/log/app/*` is not `cat /var/log/app/../../etc/shadow`,
//!   and `systemctl status *` is not `systemctl status --all`;
//! - `**` (a word of its own) matches any number of words, options included: only for
//!   programs none of whose options can write, execute or read beyond what is meant.
//!
//! Anything else is still possible, with a proof of presence (an agent's is parked).

use serde::{Deserialize, Serialize};

/// How long a command may run when the host names no limit.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const MAX_TIMEOUT_SECS: u64 = 600;
/// Bytes kept of each of stdout and stderr when the host names no cap.
pub const DEFAULT_OUTPUT_CAP: u64 = 1024 * 1024;
pub const MAX_OUTPUT_CAP: u64 = 16 * 1024 * 1024;
/// Longest command accepted (sshd's own limits are far above; a brokered command is short).
pub const MAX_COMMAND_LEN: usize = 8 * 1024;

/// A host key accepted by the human, as `ssh-keygen -l` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedHostKey {
    /// `SHA256:…`
    pub fingerprint: String,
    /// e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// Unix seconds.
    pub accepted: u64,
}

/// One host and its standing rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHost {
    /// What `kovra ssh NAME` calls it.
    pub name: String,
    /// A DNS name or an IP address.
    pub address: String,
    pub port: u16,
    pub host_keys: Vec<PinnedHostKey>,
    /// Login users an agent may use; the first is the default.
    pub users: Vec<String>,
    /// The SSH key record used when the request names none.
    #[serde(default)]
    pub key: Option<String>,
    /// Command patterns an agent may run without an approval.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Every command needs a proof of presence, whoever asks.
    #[serde(default)]
    pub production: bool,
    pub timeout_secs: u64,
    pub output_cap: u64,
    /// Unix seconds.
    pub added: u64,
}

impl SshHost {
    /// Whether `fingerprint` is one of the host's accepted keys.
    pub fn pins(&self, fingerprint: &str) -> bool {
        self.host_keys.iter().any(|k| k.fingerprint == fingerprint)
    }

    pub fn default_user(&self) -> Option<&str> {
        self.users.first().map(String::as_str)
    }
}

/// Why a host's field or a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error(
        "host name `{0}`: use 1-63 of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit"
    )]
    Name(String),
    #[error("give at least one login user (--user)")]
    NoUser,
    #[error("address `{0}`: give a DNS name or an IP address (and :PORT if not 22)")]
    Address(String),
    #[error("user `{0}`: use 1-32 of a-z, A-Z, 0-9, `.`, `_` and `-`")]
    User(String),
    #[error("pattern `{0}`: use plain characters (letters, digits, space, `_./:=@%+,-`) and `*`")]
    Pattern(String),
    #[error(
        "host key `{0}`: give its SHA256 fingerprint as `ssh-keygen -lf` prints it (SHA256: and 43 characters)"
    )]
    Fingerprint(String),
    #[error("the command is empty")]
    EmptyCommand,
    #[error("the command is longer than {MAX_COMMAND_LEN} bytes")]
    LongCommand,
    #[error(
        "the command holds a control character (a newline, a tab, an escape…); put a multi-line script in a file on the host and run that"
    )]
    ControlCharacter,
    #[error("the timeout must be 1 to {MAX_TIMEOUT_SECS} seconds, not {0}")]
    Timeout(u64),
    #[error("the output cap must be 1 to {MAX_OUTPUT_CAP} bytes, not {0}")]
    OutputCap(u64),
}

fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" _./:=@%+,-".contains(&b)
}

pub fn check_name(name: &str) -> Result<(), HostError> {
    let ok = (1..=63).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(HostError::Name(name.into()))
    }
}

/// Split `ADDRESS[:PORT]` (`[v6]:PORT` for an IPv6 address with a port).
pub fn parse_address(text: &str) -> Result<(String, u16), HostError> {
    let bad = || HostError::Address(text.into());
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if tail.is_empty() => 22,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else if text.matches(':').count() == 1 {
        let (h, p) = text.split_once(':').ok_or_else(bad)?;
        (h.to_string(), p.parse().map_err(|_| bad())?)
    } else {
        (text.to_string(), 22)
    };
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let is_dns = (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if port == 0 || !(is_ip || is_dns) {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// A host key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and 43 characters of
/// unpadded base64.
pub fn check_fingerprint(fingerprint: &str) -> Result<(), HostError> {
    let ok = fingerprint.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    if ok {
        Ok(())
    } else {
        Err(HostError::Fingerprint(
            fingerprint.chars().take(80).collect(),
        ))
    }
}

pub fn check_user(user: &str) -> Result<(), HostError> {
    let ok = (1..=32).contains(&user.len())
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(HostError::User(user.into()))
    }
}

pub fn check_pattern(pattern: &str) -> Result<(), HostError> {
    let ok = !pattern.trim().is_empty()
        && pattern.len() <= 512
        && pattern.bytes().all(|b| b == b'*' || plain(b));
    if ok {
        Ok(())
    } else {
        Err(HostError::Pattern(pattern.into()))
    }
}

/// A command's own limits, before any pattern: not empty, not over-long, and no control
/// characters (a newline, a carriage return, an escape sequence), which could make what a
/// person approves look like another command. A multi-line script belongs in a file on the host.
pub fn check_command(command: &str) -> Result<(), HostError> {
    if command.trim().is_empty() {
        Err(HostError::EmptyCommand)
    } else if command.len() > MAX_COMMAND_LEN {
        Err(HostError::LongCommand)
    } else if command.chars().any(char::is_control) {
        Err(HostError::ControlCharacter)
    } else {
        Ok(())
    }
}

pub fn check_timeout(secs: u64) -> Result<u64, HostError> {
    if (1..=MAX_TIMEOUT_SECS).contains(&secs) {
        Ok(secs)
    } else {
        Err(HostError::Timeout(secs))
    }
}

pub fn check_output_cap(bytes: u64) -> Result<u64, HostError> {
    if (1..=MAX_OUTPUT_CAP).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(HostError::OutputCap(bytes))
    }
}

/// A host's fields as a human writes them (`ssh-host add`), before any key is pinned.
pub struct Fields<'a> {
    pub name: &'a str,
    /// `ADDRESS[:PORT]`.
    pub address: &'a str,
    pub users: &'a [String],
    pub commands: &'a [String],
    pub timeout_secs: Option<u64>,
    pub output_cap: Option<u64>,
}

/// What [`check_fields`] derives: the address split, the limits with their defaults.
pub struct Checked {
    pub address: String,
    pub port: u16,
    pub timeout_secs: u64,
    pub output_cap: u64,
}

/// Every field checked, one rule set for the CLI (before it connects to scan) and the
/// daemon (before it pins, whatever a client sent).
pub fn check_fields(f: &Fields<'_>) -> Result<Checked, HostError> {
    check_name(f.name)?;
    let (address, port) = parse_address(f.address)?;
    if f.users.is_empty() {
        return Err(HostError::NoUser);
    }
    for user in f.users {
        check_user(user)?;
    }
    for pattern in f.commands {
        check_pattern(pattern)?;
    }
    Ok(Checked {
        address,
        port,
        timeout_secs: check_timeout(f.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS))?,
        output_cap: check_output_cap(f.output_cap.unwrap_or(DEFAULT_OUTPUT_CAP))?,
    })
}

/// Whether `command` matches one of `patterns` ([module docs](self)).
pub fn command_allowed(patterns: &[String], command: &str) -> bool {
    if command.trim().is_empty() || !command.bytes().all(plain) {
        return false;
    }
    let words: Vec<&str> = command.split(' ').filter(|w| !w.is_empty()).collect();
    patterns.iter().any(|p| {
        let tokens: Vec<&str> = p.split(' ').filter(|w| !w.is_empty()).collect();
        words_match(&tokens, &words)
    })
}

/// Pattern words against command words; `**` takes any number of words. A table over
/// (pattern word, command word) suffixes: quadratic at worst, whatever the pattern.
fn words_match(tokens: &[&str], words: &[&str]) -> bool {
    let (t, w) = (tokens.len(), words.len());
    // row[j]: tokens[i..] matches words[j..], for the row i being filled; next: for i + 1.
    let mut next = vec![false; w + 1];
    next[w] = true;
    for i in (0..t).rev() {
        let mut row = vec![false; w + 1];
        for j in (0..=w).rev() {
            row[j] = if tokens[i] == "**" {
                next[j] || (j < w && row[j + 1])
            } else {
                j < w && word_matches(tokens[i], words[j]) && next[j + 1]
            };
        }
        next = row;
    }
    next[0]
}

fn word_matches(token: &str, word: &str) -> bool {
    if !token.contains('*') {
        return token == word;
    }
    (token.starts_with('-') || !word.starts_with('-'))
        && (token.contains("..") || !word.contains(".."))
        && glob(token.as_bytes(), word.as_bytes())
}

/// `*` matches any run of bytes (here: plain characters of one word); everything else
/// matches itself. Iterative with one backtrack point: linear in practice.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], command: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        command_allowed(&patterns, command)
    }

    #[test]
    fn a_star_is_one_plain_word_and_no_option_nor_parent() {
        let p = [
            "systemctl status *",
            "journalctl -u app -n *",
            "cat /var/log/app/*",
            "uptime",
        ];
        assert!(allowed(&p, "uptime"));
        assert!(allowed(&p, "systemctl status nginx"));
        assert!(allowed(&p, "systemctl  status   nginx"));
        assert!(allowed(&p, "journalctl -u app -n 50"));
        assert!(allowed(&p, "cat /var/log/app/error.log"));
        // One word only, no option, no `..`.
        assert!(!allowed(&p, "systemctl status nginx sshd"));
        assert!(!allowed(&p, "systemctl status --all"));
        assert!(!allowed(&p, "journalctl -u app -n 50 -u sshd"));
        assert!(!allowed(&p, "journalctl -u app -n --file=/x"));
        assert!(!allowed(&p, "cat /var/log/app/../../../etc/shadow"));
        assert!(!allowed(&p, "cat /var/log/app/..."));
        assert!(!allowed(&p, "cat /var/log/other"));
        // Shell syntax never matches.
        assert!(!allowed(&p, "uptime; id"));
        assert!(!allowed(&p, "systemctl status nginx; rm -rf /"));
        assert!(!allowed(&p, "systemctl status $(id)"));
        assert!(!allowed(&p, "systemctl status `id`"));
        assert!(!allowed(&p, "systemctl status x | sh"));
        assert!(!allowed(&p, "systemctl status x\nid"));
        assert!(!allowed(&p, "systemctl status\tx"));
        assert!(!allowed(&p, "systemctl status 'x'"));
        assert!(!allowed(&p, "systemctl stop nginx"));
        assert!(!allowed(&[], "uptime"));
    }

    #[test]
    fn a_double_star_takes_any_words_and_options_explicitly() {
        let p = ["git log **", "ls -l *"];
        assert!(allowed(&p, "git log"));
        assert!(allowed(&p, "git log --oneline -n 5 src/main.rs"));
        assert!(!allowed(&p, "git log; id"));
        assert!(!allowed(&p, "git status"));
        // A pattern word that is an option may match options.
        assert!(allowed(&["ls -l *", "tail -*"], "tail -5"));
        assert!(allowed(&p, "ls -l /tmp"));
        assert!(!allowed(&p, "ls -l -a"));
        // Many `**` stay fast.
        let many = vec!["** a".repeat(100)];
        let words = "b ".repeat(4000);
        assert!(!command_allowed(&many, &words));
    }

    #[test]
    fn patterns_and_fields_are_checked() {
        assert!(check_pattern("ls -la /var/log/*").is_ok());
        assert!(check_pattern("ls; *").is_err());
        assert!(check_pattern("  ").is_err());
        assert_eq!(
            parse_address("Web1.example.com:2222").unwrap(),
            ("web1.example.com".into(), 2222)
        );
        assert_eq!(parse_address("10.0.0.1").unwrap(), ("10.0.0.1".into(), 22));
        assert_eq!(parse_address("[::1]:22").unwrap(), ("::1".into(), 22));
        assert_eq!(parse_address("::1").unwrap(), ("::1".into(), 22));
        assert!(parse_address("-oProxyCommand=x").is_err());
        assert!(parse_address("a b").is_err());
        assert!(parse_address("host:0").is_err());
        assert!(check_user("deploy").is_ok());
        assert!(check_user("-oX").is_err());
        assert!(check_name("web-1").is_ok());
        assert!(check_name("Web").is_err());
        assert!(check_fingerprint("SHA256:7qZelHj7OPdM5f8Ndg2FeKKJo2beGYcs02YS7xjKYQs").is_ok());
        assert!(check_fingerprint("SHA256:x").is_err());
        assert!(check_fingerprint("MD5:7qZelHj7OPdM5f8Ndg2FeKKJo2beGYcs02YS7xjKYQs").is_err());
    }
}
