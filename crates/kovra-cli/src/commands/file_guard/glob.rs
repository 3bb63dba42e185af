#[derive(Debug)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**` as a whole glob or a trailing component: anything, `/` included.
    AnyPath,
    /// `**/` leading or in the middle: nothing, or any run of components with their `/`.
    Dirs,
}

const MAX_ALTERNATIVES: usize = 64;

/// `{a,b}` expanded (not nested). `None`: unbalanced, nested or too many.
fn expand(glob: &str) -> Option<Vec<String>> {
    let Some(open) = glob.find('{') else {
        return (!glob.contains('}')).then(|| vec![glob.to_string()]);
    };
    let close = open + glob[open..].find('}')?;
    let inner = &glob[open + 1..close];
    if inner.contains('{') {
        return None;
    }
    let mut out = Vec::new();
    for rest in expand(&glob[close + 1..])? {
        for alt in inner.split(',') {
            out.push(format!("{}{alt}{rest}", &glob[..open]));
            if out.len() > MAX_ALTERNATIVES {
                return None;
            }
        }
    }
    if glob[..open].contains('}') {
        return None;
    }
    Some(out)
}

/// One brace-free glob as tokens. `loose`: where the syntax is unclear, match more.
fn parse(p: &str, loose: bool) -> Option<Vec<Tok>> {
    let comps: Vec<&str> = p.split('/').collect();
    let n = comps.len();
    let mut toks = Vec::new();
    let mut slash_next = false;
    for (i, comp) in comps.iter().enumerate() {
        if *comp == "**" {
            if n == 1 || i == n - 1 {
                if slash_next {
                    toks.push(Tok::Lit('/'));
                }
                toks.push(Tok::AnyPath);
            } else {
                if slash_next {
                    toks.push(Tok::Lit('/'));
                }
                toks.push(Tok::Dirs);
                slash_next = false;
                continue;
            }
            slash_next = true;
            continue;
        }
        if slash_next {
            toks.push(Tok::Lit('/'));
        }
        slash_next = true;
        let chars: Vec<char> = comp.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            match chars[j] {
                '*' if chars.get(j + 1) == Some(&'*') => {
                    if !loose {
                        return None;
                    }
                    toks.push(Tok::AnyPath);
                    while chars.get(j) == Some(&'*') {
                        j += 1;
                    }
                    continue;
                }
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                '\\' => return None,
                '[' => {
                    let (tok, next) = class(&chars, j)?;
                    toks.push(tok);
                    j = next;
                    continue;
                }
                c => toks.push(Tok::Lit(c)),
            }
            j += 1;
        }
    }
    Some(toks)
}

/// A `[…]` class starting at `chars[start]`; returns it and the index after `]`.
fn class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut j = start + 1;
    let negated = matches!(chars.get(j), Some('!' | '^'));
    if negated {
        j += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(j)?;
        if c == ']' && !first {
            return Some((Tok::Class { negated, ranges }, j + 1));
        }
        first = false;
        if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|d| *d != ']') {
            ranges.push((c, *chars.get(j + 2)?));
            j += 3;
        } else {
            ranges.push((c, c));
            j += 1;
        }
    }
}

fn char_eq(a: char, b: char, loose: bool) -> bool {
    a == b || (loose && a.to_lowercase().eq(b.to_lowercase()))
}

fn in_class(c: char, negated: bool, ranges: &[(char, char)], loose: bool) -> bool {
    let variants: Vec<char> = if loose {
        std::iter::once(c)
            .chain(c.to_lowercase())
            .chain(c.to_uppercase())
            .collect()
    } else {
        vec![c]
    };
    let hit = variants
        .iter()
        .any(|v| ranges.iter().any(|(lo, hi)| lo <= v && v <= hi));
    // Loosely, a negated class may match whatever a variant misses.
    if negated {
        if loose {
            variants
                .iter()
                .any(|v| !ranges.iter().any(|(lo, hi)| lo <= v && v <= hi))
        } else {
            !hit
        }
    } else {
        hit
    }
}

/// Whether `toks` match all of `s`.
fn matches(toks: &[Tok], s: &[char], loose: bool) -> bool {
    let n = s.len();
    // dp[j]: the tokens from the current one on match s[j..].
    let mut next = vec![false; n + 1];
    next[n] = true;
    for tok in toks.iter().rev() {
        let mut cur = vec![false; n + 1];
        for j in (0..=n).rev() {
            let c = s.get(j).copied();
            cur[j] = match tok {
                Tok::Lit(l) => c.is_some_and(|c| char_eq(c, *l, loose)) && next[j + 1],
                Tok::One => c.is_some_and(|c| c != '/') && next[j + 1],
                Tok::Class { negated, ranges } => {
                    c.is_some_and(|c| c != '/' && in_class(c, *negated, ranges, loose))
                        && next[j + 1]
                }
                Tok::Star => next[j] || (c.is_some_and(|c| c != '/' || loose) && cur[j + 1]),
                Tok::AnyPath => next[j] || (c.is_some() && cur[j + 1]),
                Tok::Dirs => next[j] || (j + 1..=n).any(|k| s[k - 1] == '/' && next[k]),
            };
        }
        next = cur;
    }
    next[0]
}

/// A glob split into its alternatives and flags: (alternatives, directory only).
fn prepare(glob: &str) -> Option<(Vec<String>, bool)> {
    let dir_only = glob.ends_with('/');
    let glob = glob.trim_end_matches('/');
    if glob.is_empty() || glob.len() > 1024 {
        return None;
    }
    Some((expand(glob)?, dir_only))
}

/// Whether `glob` might match the entry whose absolute path has the components `parts`, or
/// any directory above it. Loose in case and `/`, and tried against every anchoring, since
/// ripgrep's root for globs with a `/` (search root or working directory) is not ours to see.
pub fn may_match(glob: &str, parts: &[&str]) -> bool {
    let Some((alternatives, dir_only)) = prepare(glob) else {
        return true;
    };
    let n = parts.len();
    for alt in &alternatives {
        let anchored = alt.contains('/');
        let alt = alt.trim_start_matches('/');
        let Some(toks) = parse(alt, true) else {
            return true;
        };
        for end in 1..=n {
            if dir_only && end == n {
                continue;
            }
            let starts = if anchored { 0..end } else { end - 1..end };
            for start in starts {
                let s: Vec<char> = parts[start..end].join("/").chars().collect();
                if matches(&toks, &s, true) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `glob` (without its `!`) surely matches the entry at `rel` or a directory above it
/// inside the search root. Only globs without `/` are judged (they match a name at any depth);
/// exact in case and syntax.
pub fn surely_matches(glob: &str, rel: &[&str]) -> bool {
    let Some((alternatives, dir_only)) = prepare(glob) else {
        return false;
    };
    let n = rel.len();
    alternatives.iter().any(|alt| {
        if alt.contains('/') {
            return false;
        }
        let Some(toks) = parse(alt, false) else {
            return false;
        };
        rel.iter().enumerate().any(|(i, name)| {
            !(dir_only && i + 1 == n) && matches(&toks, &name.chars().collect::<Vec<_>>(), false)
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn may(glob: &str, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        may_match(glob, &parts)
    }

    fn surely(glob: &str, rel: &str) -> bool {
        surely_matches(glob, &rel.split('/').collect::<Vec<_>>())
    }

    #[test]
    fn positive_globs_match_loosely() {
        assert!(may("*.rs", "/p/src/main.rs"));
        assert!(!may("*.rs", "/p/.env"));
        assert!(may("*", "/p/.env"));
        assert!(may("*.{ts,tsx}", "/p/a/b.tsx"));
        assert!(!may("*.{ts,tsx}", "/p/config/.env.local"));
        assert!(may("*.ENV", "/p/prod.env"), "any case");
        assert!(may("src/**", "/p/src/deep/.env"), "any anchoring");
        assert!(may("config", "/p/config/.env"), "a directory above");
        assert!(!may("src/**/*.ts", "/p/config/.env"));
        assert!(may(".env*", "/p/.env.production"));
        assert!(may("[.]env", "/p/.env"));
        assert!(!may("[!.]env", "/p/.env"));
        assert!(may("a\\*", "/p/.env"), "unclear syntax counts as a match");
        assert!(may("{a,{b,c}}", "/p/.env"));
        assert!(may("**", "/p/.env"));
        assert!(may("**/.env", "/p/x/.env"));
    }

    #[test]
    fn negated_globs_match_exactly_or_not_at_all() {
        assert!(surely(".env*", ".env"));
        assert!(surely(".env*", "config/.env.local"));
        assert!(!surely(".env", ".env.local"));
        assert!(surely("{.env*,*.pem}", "certs/key.pem"));
        assert!(surely("config", "config/.env"), "a directory above");
        assert!(
            !surely("config/", "config"),
            "directory-only glob on a file"
        );
        assert!(!surely("*.ENV", "prod.env"), "case-sensitive");
        assert!(
            !surely("config/.env", "config/.env"),
            "anchored globs are not judged"
        );
        assert!(!surely("**.env", "a.env"));
        assert!(surely("*.env", "prod.env"));
    }
}
