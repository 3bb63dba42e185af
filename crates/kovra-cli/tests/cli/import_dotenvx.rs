//! `kovra import --from-dotenvx`: a file sealed by the real dotenvx CLI imports to records
//! whose values, injected by `kovra run`, hash the same as what `dotenvx run` gives a child;
//! a wrong key imports nothing; the private key and the values appear in no output.

use std::process::Command;

use super::import::{CHILD, hashes};
use crate::harness::*;
use crate::leak::canary;

fn dotenvx() -> std::path::PathBuf {
    let bin = test_tool_dir("dotenvx").join("node_modules/.bin/dotenvx");
    assert!(
        bin.exists(),
        "dotenvx is missing: run `bash scripts/test.sh` (it installs it with npm)"
    );
    bin
}

#[test]
fn a_dotenvx_file_imports_what_dotenvx_decrypts_and_a_wrong_key_imports_nothing() {
    let p = Project::new();
    let c = canary("dotenvx");
    let plain = format!(
        "PLAIN={c}-plain\nEQUALS={c}=a=b\nQUOTED=\"{c} with # and 'quotes'\"\n\
         MULTI=\"{c}\nsecond line\"\nUNICODE={c} héllo ✓\nEMPTY=\nSINGLE='{c} single'\n"
    );
    let file = p.dir.join(".env.staging");
    std::fs::write(&file, &plain).unwrap();
    let sealed = Command::new(dotenvx())
        .args(["encrypt", "-f", ".env.staging"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    assert!(
        sealed.status.success(),
        "dotenvx encrypt: {}",
        describe(&sealed)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("encrypted:") && !text.contains(&c),
        "not sealed"
    );
    let keys = std::fs::read_to_string(p.dir.join(".env.keys")).unwrap();
    let key = keys
        .lines()
        .find_map(|l| l.strip_prefix("DOTENV_PRIVATE_KEY_STAGING="))
        .expect("the staging key")
        .trim_matches('"')
        .to_string();
    std::fs::remove_file(p.dir.join(".env.keys")).unwrap();
    let names = [
        "PLAIN", "EQUALS", "QUOTED", "MULTI", "UNICODE", "EMPTY", "SINGLE",
    ];

    // What dotenvx itself hands a child.
    let mut reference = Command::new(dotenvx());
    reference
        .args([
            "run",
            "-q",
            "-f",
            ".env.staging",
            "--",
            "python3",
            "-c",
            CHILD,
        ])
        .args(names)
        .current_dir(&p.dir)
        .env("DOTENV_PRIVATE_KEY_STAGING", &key);
    let reference = reference.output().unwrap();
    assert!(
        reference.status.success(),
        "dotenvx run: {}",
        describe(&reference)
    );
    let want = hashes(&String::from_utf8_lossy(&reference.stdout));
    assert_eq!(want.len(), names.len(), "{want:?}");

    // A wrong key: refused, nothing written, the file kept.
    let wrong = "11".repeat(32);
    let out = p.run_env(
        &[("DOTENV_PRIVATE_KEY", wrong.as_str())],
        &[
            "import",
            "--from-dotenvx",
            ".env.staging",
            "--env",
            "staging",
            "--shred",
        ],
    );
    assert!(!out.status.success(), "a wrong key: {}", describe(&out));
    assert!(
        describe(&out).contains("no dotenvx private key"),
        "{}",
        describe(&out)
    );
    assert!(file.exists());
    let (_, listed) = p.h.json(&["list"]);
    assert_eq!(
        listed["records"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );

    // The right key: imported, shredded, and a run's child gets what dotenvx gave.
    let out = p.run_env(
        &[("DOTENV_PRIVATE_KEY_STAGING", key.as_str())],
        &[
            "import",
            "--from-dotenvx",
            ".env.staging",
            "--env",
            "staging",
            "--write-refs",
            "--shred",
        ],
    );
    assert!(out.status.success(), "import: {}", describe(&out));
    assert!(
        !stdout(&out).contains("DOTENV_PUBLIC_KEY"),
        "the public key became a record"
    );
    assert!(!file.exists());
    let mut args = vec!["run", "--", "python3", "-c", CHILD];
    args.extend(names);
    let out = p.h.run_with(p.cmd(&args), None);
    assert!(out.status.success(), "run: {}", describe(&out));
    assert_eq!(hashes(&stdout(&out)), want);
    assert!(!p.h.transcript_contains(&[c.into_bytes(), key.clone().into_bytes()]));
    assert!(p.h.files_containing(&[key.into_bytes()]).is_empty());
}
