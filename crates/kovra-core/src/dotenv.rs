//! Reading a `.env` file for `kovra import`: the part of the dotenv grammar that
//! python-dotenv and Node's `dotenv` read the same way, and nothing else.
//!
//! Why hand-written: the Rust crates (`dotenvy` and its kin) implement a third dialect. They
//! decode escapes in double quotes that Node keeps as written (`\t`, `\\`, `\"`), expand
//! `$VAR` that neither python-dotenv (only `${VAR}`) nor Node (no expansion) expand, and
//! none reports a refused construct by line and column without the value. An import that
//! silently stores a value different from what the application read through its own
//! library would be worse than no import, so this reader accepts exactly the constructs on
//! which the two reference libraries agree and refuses the rest, naming where:
//!
//! - `NAME=value`, optionally `export NAME=value`; blanks around `=`; `#` comment lines.
//!   Names are environment names (`[A-Za-z_][A-Za-z0-9_]*`): `kovra run` injects them.
//! - Unquoted values run to the end of the line, trailing blanks dropped; ` #` (a blank,
//!   then `#`) starts a comment. A `#` right after a character, or as the value's first
//!   character, is refused: python-dotenv keeps it, Node cuts the value there.
//! - Single quotes: literal, may span lines. A backslash before `\` or `'` is refused
//!   (python-dotenv decodes it, Node keeps it).
//! - Double quotes: may span lines; `\n` and `\r` are decoded by both. `\\`, `\"`, `\'`,
//!   `\a`, `\b`, `\f`, `\t`, `\v` are refused (python-dotenv decodes them, Node keeps
//!   them); any other backslash is kept as written by both.
//! - `${` is refused anywhere: python-dotenv interpolates it (even in single quotes, as
//!   python-dotenv 1.2 does), Node does not. A bare `$NAME` is read alike by both.
//! - Backtick quotes (Node only), `NAME: value` (Node only), a name without `=`, text after
//!   a closing quote, an unterminated quote and NUL are refused.
//! - A name set twice keeps its last value, as both libraries do (the application read that
//!   one); the plan shows the name once.
//!
//! Line ends are normalised first (`\r\n` and `\r` become `\n`), as both libraries do. No
//! error message ever carries a value: only a line, a column and what was expected.

use std::fmt;

use zeroize::Zeroizing;

/// One `NAME=value` read from the file.
pub struct Entry {
    pub name: String,
    pub value: Zeroizing<String>,
    /// 1-based line of the name.
    pub line: usize,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("line", &self.line)
            .finish()
    }
}

/// Where the file stopped being readable, and why; never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {kind}")]
pub struct DotenvError {
    pub line: usize,
    pub column: usize,
    pub kind: ErrorKind,
}

/// What was wrong at the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("expected a variable name (letters, digits and `_`, not starting with a digit)")]
    BadName,
    #[error("expected `=` after the variable name")]
    ExpectedEquals,
    #[error("the quote opened here is never closed")]
    Unterminated,
    #[error("unexpected text after the closing quote (only a `#` comment may follow)")]
    TrailingText,
    #[error("a NUL character cannot be part of an environment variable")]
    Nul,
    #[error("{0}")]
    Ambiguous(&'static str),
}

const BACKSLASH_SINGLE: &str = "python-dotenv decodes this backslash in single quotes and Node dotenv keeps it: write the value unquoted, or without the backslash";
const BACKSLASH_DOUBLE: &str = "python-dotenv decodes this escape in double quotes and Node dotenv keeps it as written: use single quotes, or write the character itself";
const INTERPOLATION: &str = "python-dotenv expands `${...}` (even in single quotes) and Node dotenv does not: store this value with `kovra add`";
const HASH: &str = "python-dotenv and Node dotenv disagree on a `#` not preceded by a blank: quote the value, or put a blank before a comment";
const BACKTICK: &str = "backtick quotes are read by Node dotenv only: use single or double quotes";
const UNICODE_BLANK: &str =
    "python-dotenv and Node dotenv trim different blanks around an unquoted value: quote the value";

/// Parse a `.env` file's text. All or nothing: the first refused construct is the error.
pub fn parse(text: &str) -> Result<Vec<Entry>, DotenvError> {
    let normalised = Zeroizing::new(text.replace("\r\n", "\n").replace('\r', "\n"));
    let mut r = Reader {
        chars: normalised.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
    };
    let result = r.entries();
    r.chars.iter_mut().for_each(|c| *c = '\0');
    result
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn here(&self, kind: ErrorKind) -> DotenvError {
        DotenvError {
            line: self.line,
            column: self.column,
            kind,
        }
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    fn skip_to_line_end(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn entries(&mut self) -> Result<Vec<Entry>, DotenvError> {
        let mut out: Vec<Entry> = Vec::new();
        loop {
            while self.peek().is_some_and(|c| is_blank(c) || c == '\n') {
                self.bump();
            }
            match self.peek() {
                None => return Ok(out),
                Some('#') => {
                    self.skip_to_line_end();
                    continue;
                }
                Some(_) => {}
            }
            let line = self.line;
            let mut name = self.name()?;
            if name == "export" && self.peek().is_some_and(is_blank) {
                self.skip_blanks();
                name = self.name()?;
            }
            self.skip_blanks();
            if self.peek() != Some('=') {
                return Err(self.here(ErrorKind::ExpectedEquals));
            }
            self.bump();
            let value = self.value()?;
            match out.iter_mut().find(|e| e.name == name) {
                Some(earlier) => {
                    earlier.value = value;
                    earlier.line = line;
                }
                None => out.push(Entry { name, value, line }),
            }
        }
    }

    fn name(&mut self) -> Result<String, DotenvError> {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            _ => return Err(self.here(ErrorKind::BadName)),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.bump();
            } else if is_blank(c) || c == '=' {
                break;
            } else if c == ':' || c == '\n' {
                return Err(self.here(ErrorKind::ExpectedEquals));
            } else {
                return Err(self.here(ErrorKind::BadName));
            }
        }
        Ok(name)
    }

    fn value(&mut self) -> Result<Zeroizing<String>, DotenvError> {
        self.skip_blanks();
        match self.peek() {
            Some('\'') => {
                let v = self.single_quoted()?;
                self.after_quote()?;
                Ok(v)
            }
            Some('"') => {
                let v = self.double_quoted()?;
                self.after_quote()?;
                Ok(v)
            }
            Some('`') => Err(self.here(ErrorKind::Ambiguous(BACKTICK))),
            _ => self.unquoted(),
        }
    }

    fn single_quoted(&mut self) -> Result<Zeroizing<String>, DotenvError> {
        let open = self.here(ErrorKind::Unterminated);
        self.bump();
        let mut v = Zeroizing::new(String::new());
        loop {
            match self.peek() {
                None => return Err(open),
                Some('\'') => {
                    self.bump();
                    return Ok(v);
                }
                Some('\\') if matches!(self.peek_at(1), Some('\\' | '\'')) => {
                    return Err(self.here(ErrorKind::Ambiguous(BACKSLASH_SINGLE)));
                }
                Some('$') if self.peek_at(1) == Some('{') => {
                    return Err(self.here(ErrorKind::Ambiguous(INTERPOLATION)));
                }
                Some('\0') => return Err(self.here(ErrorKind::Nul)),
                Some(c) => {
                    v.push(c);
                    self.bump();
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<Zeroizing<String>, DotenvError> {
        let open = self.here(ErrorKind::Unterminated);
        self.bump();
        let mut v = Zeroizing::new(String::new());
        loop {
            match self.peek() {
                None => return Err(open),
                Some('"') => {
                    self.bump();
                    return Ok(v);
                }
                Some('\\') => match self.peek_at(1) {
                    Some('n') => {
                        v.push('\n');
                        self.bump();
                        self.bump();
                    }
                    Some('r') => {
                        v.push('\r');
                        self.bump();
                        self.bump();
                    }
                    Some('\\' | '"' | '\'' | 'a' | 'b' | 'f' | 't' | 'v') => {
                        return Err(self.here(ErrorKind::Ambiguous(BACKSLASH_DOUBLE)));
                    }
                    None => return Err(open),
                    Some(_) => {
                        v.push('\\');
                        self.bump();
                    }
                },
                Some('$') if self.peek_at(1) == Some('{') => {
                    return Err(self.here(ErrorKind::Ambiguous(INTERPOLATION)));
                }
                Some('\0') => return Err(self.here(ErrorKind::Nul)),
                Some(c) => {
                    v.push(c);
                    self.bump();
                }
            }
        }
    }

    /// After a closing quote: blanks, then a comment, a line end or the end of the file.
    fn after_quote(&mut self) -> Result<(), DotenvError> {
        self.skip_blanks();
        match self.peek() {
            None | Some('\n') => Ok(()),
            Some('#') => {
                self.skip_to_line_end();
                Ok(())
            }
            Some(_) => Err(self.here(ErrorKind::TrailingText)),
        }
    }

    fn unquoted(&mut self) -> Result<Zeroizing<String>, DotenvError> {
        let mut v = Zeroizing::new(String::new());
        if self
            .peek()
            .is_some_and(|c| c != '\n' && (c.is_whitespace() || c == '\u{feff}'))
        {
            return Err(self.here(ErrorKind::Ambiguous(UNICODE_BLANK)));
        }
        let mut previous: Option<char> = None;
        while let Some(c) = self.peek() {
            match c {
                '\n' => break,
                '#' if previous.is_some_and(is_blank) => {
                    self.skip_to_line_end();
                    break;
                }
                '#' => return Err(self.here(ErrorKind::Ambiguous(HASH))),
                '$' if self.peek_at(1) == Some('{') => {
                    return Err(self.here(ErrorKind::Ambiguous(INTERPOLATION)));
                }
                '\0' => return Err(self.here(ErrorKind::Nul)),
                _ => {}
            }
            v.push(c);
            previous = Some(c);
            self.bump();
        }
        let kept = v.trim_end_matches(is_blank).len();
        v.truncate(kept);
        if v.chars()
            .next_back()
            .is_some_and(|c| c.is_whitespace() || c == '\u{feff}')
        {
            return Err(DotenvError {
                line: self.line,
                column: self.column,
                kind: ErrorKind::Ambiguous(UNICODE_BLANK),
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
#[path = "dotenv_tests.rs"]
mod tests;
