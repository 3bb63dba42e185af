//! The help walks the whole command tree: commands added later are checked without being
//! listed here.

use clap::{Arg, Command};

use super::{GROUPS, NO_JSON, NO_PROJECT, command, group_of};

/// Every command below `cmd` (hidden ones too, but not clap's own `help`), with its path.
fn all_commands(cmd: &Command, path: &str, out: &mut Vec<(String, Command)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let p = format!("{path} {}", sub.get_name()).trim().to_string();
        out.push((p.clone(), sub.clone()));
        all_commands(sub, &p, out);
    }
}

fn tree() -> Vec<(String, Command)> {
    let mut out = Vec::new();
    all_commands(&command(), "", &mut out);
    assert!(out.len() > 40, "the walk found only {} commands", out.len());
    out
}

fn is_builtin(a: &Arg) -> bool {
    matches!(a.get_id().as_str(), "help" | "version")
}

#[test]
fn clap_accepts_the_definition() {
    command().debug_assert();
}

#[test]
fn every_command_has_an_example() {
    let top = command().get_after_help().map(|h| h.to_string());
    assert!(top.is_some_and(|h| h.contains("Examples:\n  kovra ")));
    for (path, cmd) in tree() {
        let after = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let (_, examples) = after
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("`kovra {path}` has no Examples: in its after_help"));
        let first = examples.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("  ") && first.contains("kovra "),
            "`kovra {path}`: the first example is not a kovra command line: {first:?}"
        );
        assert!(
            cmd.get_about().is_some(),
            "`kovra {path}` has no description"
        );
    }
}

#[test]
fn every_argument_says_what_it_is() {
    let top = command();
    let mut cmds = vec![("".to_string(), top.clone())];
    cmds.extend(tree());
    for (path, cmd) in cmds {
        for arg in cmd.get_arguments().filter(|a| !is_builtin(a)) {
            let help = arg
                .get_help()
                .or(arg.get_long_help())
                .map(|h| h.to_string());
            assert!(
                help.is_some_and(|h| !h.trim().is_empty()),
                "`kovra {path}`: argument {} has no help text",
                arg.get_id()
            );
            // A closed set lists its values: clap does it for value enums; the parsers of
            // our own (sensitivity) say them in the text.
            if arg.get_id() == "sensitivity" {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(
                    help.contains("low, medium, high or inject-only"),
                    "`kovra {path} --sensitivity` does not list its values"
                );
            }
        }
    }
}

#[test]
fn every_top_level_command_is_in_exactly_one_group() {
    let cmd = command();
    let visible: Vec<&str> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name())
        .collect();
    for name in &visible {
        let n = GROUPS.iter().filter(|(_, m)| m.contains(name)).count();
        assert_eq!(
            n, 1,
            "`{name}` is in {n} help groups (add it to help::GROUPS)"
        );
    }
    for (title, members) in GROUPS {
        for m in *members {
            assert!(
                visible.contains(m),
                "group {title} lists `{m}`, which is not a visible command"
            );
        }
    }
    assert!(group_of("add").is_some());
}

#[test]
fn top_level_help_shows_the_groups_and_fits() {
    let help = command().render_help().to_string();
    for (title, members) in GROUPS {
        assert!(
            help.contains(&format!("\n{title}:\n")),
            "no {title} section:\n{help}"
        );
        for m in *members {
            assert!(
                help.contains(&format!("\n  {m} ")),
                "`{m}` not listed:\n{help}"
            );
        }
    }
    assert!(!help.contains("\nOther:\n"), "ungrouped commands:\n{help}");
    assert!(help.contains("Exit codes:") && help.contains("Options:\n"));
    for line in help.lines() {
        assert!(
            line.chars().count() <= 100,
            "too wide for a terminal: {line:?}"
        );
    }
}

/// The rendered help of the command at `path`.
fn help_of(path: &str) -> String {
    let mut cmd = command();
    let mut at = &mut cmd;
    for name in path.split(' ') {
        at = at
            .find_subcommand_mut(name)
            .unwrap_or_else(|| panic!("no command {path}"));
    }
    at.render_help().to_string()
}

#[test]
fn global_flags_show_only_where_they_apply() {
    for path in NO_JSON.iter().chain(NO_PROJECT) {
        help_of(path); // every listed path exists
    }
    assert!(!help_of("demo").contains("--json"));
    assert!(!help_of("daemon stop").contains("--json"));
    assert!(!help_of("lock").contains("--project"));
    assert!(!help_of("completions").contains("--project"));
    for path in ["list", "add", "run", "agent env", "kit seal"] {
        let help = help_of(path);
        assert!(
            help.contains("--json") && help.contains("--project"),
            "{path}:\n{help}"
        );
    }
}
