//! How wide a line of human output may be. Tables fit the terminal (clamped to 80..=120
//! columns, so a very narrow or very wide window still gets a readable layout) and 100
//! columns when stdout is not a terminal; `--wide` lifts the limit. Cells that do not fit end
//! in an ellipsis; `--json` always carries them whole.

use std::io::IsTerminal;

/// Columns when stdout is a pipe or a file.
const NOT_A_TERMINAL: usize = 100;
const NARROWEST: usize = 80;
const WIDEST: usize = 120;

/// The width to fit, or `None` for no limit (`--wide`).
pub fn columns(wide: bool) -> Option<usize> {
    if wide {
        return None;
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return Some(NOT_A_TERMINAL);
    }
    Some(
        terminal_size::terminal_size_of(stdout)
            .map_or(NOT_A_TERMINAL, |(w, _)| usize::from(w.0))
            .clamp(NARROWEST, WIDEST),
    )
}

/// `text` cut to `width` characters, the last one an ellipsis when anything was cut. Control
/// characters become `?`: cells hold paths and names a same-user agent chose, and they must
/// not drive the terminal.
pub fn fit(text: &str, width: Option<usize>) -> String {
    let mut out = String::with_capacity(text.len());
    fit_into(text, width, &mut out);
    out
}

/// [`fit`], appended to `out` (a table's lines reuse one buffer).
pub fn fit_into(text: &str, width: Option<usize>, out: &mut String) {
    let clean = |c: char| if c.is_control() { '?' } else { c };
    match width {
        Some(w) if text.chars().nth(w).is_some() => {
            out.extend(text.chars().take(w.saturating_sub(1)).map(clean));
            out.push('…');
        }
        _ => out.extend(text.chars().map(clean)),
    }
}

/// `text` padded with spaces to `width` characters (no cut).
pub fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_with_an_ellipsis_and_counts_characters() {
        assert_eq!(fit("abcdef", Some(4)), "abc…");
        assert_eq!(fit("abcd", Some(4)), "abcd");
        assert_eq!(fit("ééééé", Some(3)), "éé…");
        assert_eq!(fit("abcdef", None), "abcdef");
        assert_eq!(fit("a\x1b[2Jb", None), "a?[2Jb");
    }

    #[test]
    fn columns_is_unbounded_only_when_wide() {
        assert_eq!(columns(true), None);
        let w = columns(false).unwrap();
        assert!((NARROWEST..=WIDEST).contains(&w));
    }
}
