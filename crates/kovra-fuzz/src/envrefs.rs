//! `kovra_core::envrefs::parse`: a project's `.env.refs` file.

use std::collections::HashSet;

use kovra_core::coord::CoordinateTemplate;
use kovra_core::envrefs::{RefValue, RefsFile, parse};

/// A file that parses names each variable once, on a line of the file, with a `NAME` that
/// is a variable name; every coordinate it refers to parses, and a `secret:`/`fd:secret:`
/// column points at that coordinate in its line. An error names a line of the file.
pub fn envrefs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    match parse("fuzz.env.refs", text) {
        Ok(file) => {
            let mut seen = HashSet::new();
            for entry in &file.entries {
                assert!(seen.insert(entry.name.as_str()), "a name is defined once");
                assert!(!entry.name.starts_with("KOVRA_"));
                assert!(
                    entry
                        .name
                        .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && entry
                            .name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "a variable name"
                );
                assert!((1..=lines.len()).contains(&entry.line));
                for (coordinate, _) in entry.value.coordinates() {
                    assert!(
                        CoordinateTemplate::parse(coordinate).is_ok(),
                        "every coordinate in a parsed file parses"
                    );
                }
                if let RefValue::Secret {
                    coordinate, column, ..
                }
                | RefValue::Descriptor {
                    coordinate, column, ..
                } = &entry.value
                {
                    let line = lines.get(entry.line - 1).copied().unwrap_or_default();
                    let at = line.get(column.saturating_sub(1)..).unwrap_or_default();
                    assert!(
                        *column >= 1 && at.starts_with(coordinate.as_str()),
                        "column {column} of line {} points at its coordinate",
                        entry.line
                    );
                }
            }
            let json = serde_json::to_string(&file).unwrap_or_default();
            let back: Option<RefsFile> = serde_json::from_str(&json).ok();
            assert_eq!(back.as_ref(), Some(&file), "serde round trip");
        }
        Err(e) => {
            let _ = e.to_string();
            assert!((1..=lines.len()).contains(&e.line), "an error names a line");
            assert!(e.column >= 1, "columns are 1-based");
        }
    }
}
