//! `docs/errors.md` and the catalogue say the same thing: every code documented once with the
//! catalogue's exit code, every code of the catalogue documented, and the exit-code table of
//! §2 naming every code whose exit is not 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use kovra_proto::ErrorCode;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
    std::fs::read_to_string(path).expect("docs/errors.md")
}

/// The `| `code` | … | exit |` rows of §3 and §3a (§4 lists policy reasons, not error codes).
fn documented_codes(doc: &str) -> BTreeMap<String, u8> {
    let codes = doc.split("\n## 4.").next().unwrap();
    let mut found = BTreeMap::new();
    for line in codes.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let code = cells[0].trim().trim_matches('`').to_string();
        let exit: u8 = cells
            .last()
            .unwrap()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("row of `{code}`: the last cell is not an exit code"));
        if let Some(before) = found.insert(code.clone(), exit) {
            assert_eq!(
                before, exit,
                "`{code}` is documented twice with different exits"
            );
        }
    }
    found
}

/// The codes §2's table names for each exit code other than 0 and 1.
fn exit_table(doc: &str) -> BTreeMap<u8, BTreeSet<String>> {
    let section = doc
        .split("\n## 2. Exit codes")
        .nth(1)
        .unwrap()
        .split("\n## 3.")
        .next()
        .unwrap();
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let mut cells = line.trim_matches('|').splitn(2, '|');
        let Ok(exit) = cells.next().unwrap().trim().parse::<u8>() else {
            continue;
        };
        if exit == 1 {
            continue;
        }
        let named = cells
            .next()
            .unwrap()
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| !name.starts_with('-'))
            .map(str::to_string)
            .collect();
        table.insert(exit, named);
    }
    table
}

#[test]
fn every_documented_code_is_in_the_catalogue_with_its_exit_code() {
    for (code, exit) in documented_codes(&doc()) {
        let parsed: ErrorCode = code.parse().unwrap_or_else(|_| {
            panic!("docs/errors.md documents `{code}`, the catalogue lacks it")
        });
        assert_eq!(parsed.exit_code(), exit, "exit code of `{code}`");
    }
}

#[test]
fn every_code_of_the_catalogue_is_documented() {
    let documented = documented_codes(&doc());
    let missing: Vec<_> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !documented.contains_key(*c))
        .collect();
    assert!(missing.is_empty(), "not in docs/errors.md §3: {missing:?}");
}

#[test]
fn the_exit_code_table_names_every_code_that_does_not_exit_with_1() {
    let table = exit_table(&doc());
    for &code in ErrorCode::ALL {
        let exit = code.exit_code();
        if exit == 1 {
            continue;
        }
        assert!(
            table
                .get(&exit)
                .is_some_and(|codes| codes.contains(code.as_str())),
            "docs/errors.md §2 does not list `{code}` under exit {exit}"
        );
    }
    for (exit, codes) in table {
        for name in codes {
            let code: ErrorCode = name
                .parse()
                .unwrap_or_else(|_| panic!("§2 names `{name}`, which is no code"));
            assert_eq!(
                code.exit_code(),
                exit,
                "§2 lists `{name}` under exit {exit}"
            );
        }
    }
}
