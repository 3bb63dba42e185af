//! Human tables fit a terminal (issue 21, point 7): 100 columns when stdout is not one,
//! cells cut with an ellipsis, `--wide` for whole cells; the audit table says which program
//! got which variable; `--action` accepts only the actions the daemon records.

use crate::harness::*;

const WIDTH: usize = 100;

fn lines_fit(text: &str) {
    for l in text.lines() {
        assert!(
            l.chars().count() <= WIDTH,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}

#[test]
fn an_unknown_audit_action_is_a_usage_error_that_lists_the_valid_ones() {
    let h = Home::init();
    let out = h.run(&["audit", "--action", "bogus"]);
    assert_exit(&out, 2, "audit --action bogus");
    let err = stderr(&out);
    for needle in ["bogus", "valid actions:", "reveal", "inject", "passwd"] {
        assert_contains(&err, needle, &out);
    }
    // A valid action nobody performed yet is an empty answer, not an error.
    let (code, v) = h.json(&["audit", "--action", "passwd"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["entries"].as_array().map(Vec::len), Some(0), "{v}");
}

#[test]
fn the_audit_table_fits_and_names_the_program_each_variable_went_to() {
    let p = Project::new();
    let long = format!("secret:dev/{}/TOKEN", "service".repeat(12));
    p.add(&long, "value-of-no-interest", &[]);
    p.refs(&format!("API_TOKEN={long}\n"));
    let out =
        p.h.run_with(p.cmd(&["run", "--", "sh", "-c", "true"]), None);
    assert_exit(&out, 0, "kovra run");

    let out = p.h.ok(&["audit"]);
    let table = stdout(&out);
    lines_fit(&table);
    assert!(table.trim_start().starts_with("SEQ"), "{table}");
    assert!(table.contains("API_TOKEN into /"), "{table}");
    assert!(
        !table.contains(&long),
        "not cut at {WIDTH} columns:\n{table}"
    );
    assert!(table.contains('…'), "{table}");

    let wide = stdout(&p.h.ok(&["audit", "--wide", "--action", "inject"]));
    assert!(wide.contains(&long), "{wide}");
    assert!(!wide.contains('…'), "{wide}");
    // The record column lines up, however long the decision or action.
    let starts: Vec<usize> = stdout(&p.h.ok(&["audit", "--action", "inject"]))
        .lines()
        .filter_map(|l| l.find("RECORD").or_else(|| l.find("secret:")))
        .collect();
    assert!(
        starts.len() >= 2 && starts.windows(2).all(|w| w[0] == w[1]),
        "{starts:?}"
    );
}

#[test]
fn list_and_history_cut_long_descriptions_unless_wide() {
    let h = Home::init();
    let description = "a description much longer than any terminal row ".repeat(4);
    h.add_ok(
        "secret:dev/db/password",
        b"value-of-no-interest",
        &["--description", description.trim_end()],
    );
    for args in [&["list"][..], &["history", "secret:dev/db/password"][..]] {
        let cut = stdout(&h.ok(args));
        lines_fit(&cut);
        assert!(cut.contains('…'), "{args:?}: {cut}");
        let wide: Vec<&str> = args.iter().copied().chain(["--wide"]).collect();
        let whole = stdout(&h.ok(&wide));
        assert!(whole.contains(description.trim_end()), "{args:?}: {whole}");
    }
}
