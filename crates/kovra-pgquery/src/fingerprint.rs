//! A statement's fingerprint for the audit log: which statement ran, recognisable across
//! runs, without the statement's text. Literals are replaced before hashing, so statements
//! that differ only in their values share a fingerprint (as pg_stat_statements groups them),
//! and a value with little entropy in the SQL (a short password in an `ALTER ROLE`) cannot be
//! recovered by hashing guesses.

use sha2::{Digest, Sha256};

/// The first 16 hex digits of the SHA-256 of [`normalize`]d `sql`.
pub fn fingerprint(sql: &str) -> String {
    let digest = Sha256::digest(normalize(sql).as_bytes());
    hex::encode(&digest[..8])
}

/// `sql` with comments dropped, runs of white space made one space, words outside quotes in
/// lower case, and every string, dollar-quoted and numeric literal made `?`. Quoted
/// identifiers stay as written.
pub fn normalize(sql: &str) -> String {
    let c: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut space = false;
    let push = |out: &mut String, space: &mut bool, s: &str| {
        if *space && !out.is_empty() {
            out.push(' ');
        }
        *space = false;
        out.push_str(s);
    };
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch.is_whitespace() {
            space = true;
            i += 1;
        } else if ch == '-' && next == Some('-') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            space = true;
        } else if ch == '/' && next == Some('*') {
            // Block comments nest in PostgreSQL.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            space = true;
        } else if ch == '\''
            || (matches!(ch, 'e' | 'E' | 'b' | 'B' | 'x' | 'X' | 'n' | 'N')
                && next == Some('\'')
                && !word_before(&c, i))
        {
            let escapes = matches!(ch, 'e' | 'E');
            i += if ch == '\'' { 1 } else { 2 };
            while i < c.len() {
                // A backslash escape (E'') or a doubled quote: two characters of the string.
                if (escapes && c[i] == '\\') || (c[i] == '\'' && c.get(i + 1) == Some(&'\'')) {
                    i += 2;
                } else if c[i] == '\'' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            push(&mut out, &mut space, "?");
        } else if ch == '"' {
            let start = i;
            i += 1;
            while i < c.len() {
                if c[i] == '"' && c.get(i + 1) == Some(&'"') {
                    i += 2;
                } else if c[i] == '"' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            let s: String = c[start..i].iter().collect();
            push(&mut out, &mut space, &s);
        } else if ch == '$' && dollar_tag(&c, i).is_some() {
            let tag = dollar_tag(&c, i).unwrap_or_default();
            i += tag.len();
            while i < c.len() && !c[i..].starts_with(&tag) {
                i += 1;
            }
            i = (i + tag.len()).min(c.len());
            push(&mut out, &mut space, "?");
        } else if ch.is_ascii_digit() || (ch == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            if word_before(&c, i) {
                // A digit inside a name (`t1`) or a parameter (`$1`).
                out.push(ch);
                i += 1;
                continue;
            }
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '_') {
                i += 1;
            }
            push(&mut out, &mut space, "?");
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            let s: String = c[start..i].iter().collect::<String>().to_lowercase();
            push(&mut out, &mut space, &s);
        } else {
            let mut s = [0u8; 4];
            push(&mut out, &mut space, ch.encode_utf8(&mut s));
            i += 1;
        }
    }
    out
}

/// Whether `c[i]` continues a name or a `$n` parameter.
fn word_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_' || c[i - 1] == '$')
}

/// The `$tag$` (or `$$`) opening a dollar-quoted string at `c[i]`.
fn dollar_tag(c: &[char], i: usize) -> Option<Vec<char>> {
    if word_before(c, i) {
        return None;
    }
    let mut j = i + 1;
    while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
        if j == i + 1 && c[j].is_ascii_digit() {
            return None; // `$1` is a parameter.
        }
        j += 1;
    }
    (c.get(j) == Some(&'$')).then(|| c[i..=j].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_layout_do_not_count() {
        assert_eq!(
            normalize("SELECT  *\nFROM t1 -- x\nWHERE a = 'secret' AND b = 42 /* c */ AND c = $1"),
            "select * from t1 where a = ? and b = ? and c = $1"
        );
        assert_eq!(
            normalize("select $q$it's$q$, E'a\\'b', 1.5e3"),
            "select ?, ?, ?"
        );
        assert_eq!(
            normalize(r#"select "Mixed""Case" from x"#),
            r#"select "Mixed""Case" from x"#
        );
        assert_eq!(
            fingerprint("select * from users where name = 'alice'"),
            fingerprint("SELECT * FROM users WHERE name = 'bob'")
        );
        assert_ne!(fingerprint("select 1"), fingerprint("select 1 from t"));
        assert_eq!(fingerprint("select 1").len(), 16);
        assert!(!normalize("alter role x password 'hunter2'").contains("hunter2"));
    }
}
