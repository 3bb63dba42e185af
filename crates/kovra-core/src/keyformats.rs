//! Well-known credential formats: text that is a live key whether or not the vault knows it
//! (an AWS access key id, a GitHub token, a private key block). The pre-commit and prompt
//! scans report them by kind and place, never by value. The patterns are the providers'
//! published prefixes and lengths, kept strict: a false alarm on every commit teaches people
//! to bypass the hook.

use std::sync::LazyLock;

use regex::Regex;

/// One format: a stable kind and its pattern.
struct Format {
    kind: &'static str,
    pattern: &'static str,
}

/// In order: where two overlap, the earlier kind wins (`sk-ant-` before `sk-`).
const FORMATS: &[Format] = &[
    Format {
        kind: "private-key",
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
    },
    Format {
        kind: "aws-access-key-id",
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    },
    Format {
        kind: "github-token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{80,255})\b",
    },
    Format {
        kind: "anthropic-api-key",
        pattern: r"\bsk-ant-[A-Za-z0-9_\-]{32,}",
    },
    Format {
        kind: "openai-api-key",
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}",
    },
    Format {
        kind: "stripe-live-key",
        pattern: r"\b(?:sk|rk)_live_[A-Za-z0-9]{20,}\b",
    },
    Format {
        kind: "slack-token",
        pattern: r"\bxox[abpors]-[A-Za-z0-9\-]{10,}\b",
    },
    Format {
        kind: "google-api-key",
        pattern: r"\bAIza[0-9A-Za-z_\-]{35}\b",
    },
    Format {
        kind: "gitlab-token",
        pattern: r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
    },
    Format {
        kind: "npm-token",
        pattern: r"\bnpm_[A-Za-z0-9]{36}\b",
    },
    Format {
        kind: "huggingface-token",
        pattern: r"\bhf_[A-Za-z0-9]{34,}\b",
    },
    Format {
        kind: "sendgrid-api-key",
        pattern: r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b",
    },
    Format {
        kind: "kovra-db-token",
        pattern: r"\bkvdb_[A-Za-z0-9_\-]{43}\b",
    },
];

static COMPILED: LazyLock<Vec<(&'static str, Option<Regex>)>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|f| (f.kind, Regex::new(f.pattern).ok()))
        .collect()
});

/// One credential-shaped span of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: &'static str,
}

/// Every well-known credential format in `text`, in order of position, none overlapping.
pub fn scan(text: &str) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    for (kind, re) in COMPILED.iter() {
        let Some(re) = re else { continue };
        for m in re.find_iter(text) {
            if !hits.iter().any(|h| m.start() < h.end && h.start < m.end()) {
                hits.push(Hit {
                    start: m.start(),
                    end: m.end(),
                    kind,
                });
            }
        }
    }
    hits.sort_by_key(|h| h.start);
    hits
}

/// The kinds [`scan`] knows, for documentation and tests.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    FORMATS.iter().map(|f| f.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert!(COMPILED.iter().all(|(_, r)| r.is_some()));
    }

    #[test]
    fn finds_each_format_and_nothing_in_ordinary_text() {
        let aws = format!("AKIA{}", "ABCDEFGHIJKLMNOP");
        let gh = format!("ghp_{}", "a".repeat(36));
        let ant = format!("sk-ant-api03-{}", "b".repeat(40));
        let text =
            format!("key = \"{aws}\"\ntoken: {gh}\n{ant}\n-----BEGIN OPENSSH PRIVATE KEY-----\n");
        let kinds: Vec<&str> = scan(&text).iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                "aws-access-key-id",
                "github-token",
                "anthropic-api-key",
                "private-key"
            ]
        );
        for ordinary in [
            "fn main() { let sk = skip_list(); }",
            "AKIA is a prefix, AKIA123 is too short",
            "sk-short",
            "-----BEGIN PUBLIC KEY-----",
        ] {
            assert!(scan(ordinary).is_empty(), "{ordinary}");
        }
    }
}
