//! Replays the committed seed corpus (`fuzz/corpus/<target>/`) and every saved crash
//! (`fuzz/regressions/<target>/`) through the same functions the fuzz targets call, on
//! stable: a fixed bug that comes back fails `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use kovra_fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file under `dir/<target>/`, sorted; none when the directory does not exist.
fn inputs(dir: &Path, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir.join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// Runs every input, collecting the failures so one report names them all.
fn replay(kind: &str) -> (usize, Vec<String>) {
    let dir = fuzz_dir().join(kind);
    let mut ran = 0;
    let mut failures = Vec::new();
    for (name, body) in TARGETS {
        for file in inputs(&dir, name) {
            let data = fs::read(&file).unwrap();
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(format!("{name}: {}", file.display()));
            }
        }
    }
    (ran, failures)
}

#[test]
fn every_regression_input_passes() {
    let (_, failures) = replay("regressions");
    assert!(
        failures.is_empty(),
        "regressions failing:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_seed_corpus_passes_and_covers_every_target() {
    let (ran, failures) = replay("corpus");
    assert!(
        failures.is_empty(),
        "corpus inputs failing:\n{}",
        failures.join("\n")
    );
    for (name, _) in TARGETS {
        assert!(
            !inputs(&fuzz_dir().join("corpus"), name).is_empty(),
            "fuzz/corpus/{name}/ has no seed"
        );
    }
    assert!(ran >= TARGETS.len());
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (name, _) in TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(file.is_file(), "{} is missing", file.display());
    }
}

/// The bodies must shrug off junk: empty input, one byte of each value, and noise.
#[test]
fn junk_is_not_a_failure() {
    let mut junk: Vec<Vec<u8>> = vec![Vec::new()];
    junk.extend((0..=255u8).map(|b| vec![b]));
    junk.extend((0..=255u8).map(|b| (0..300u32).map(|i| (i as u8).wrapping_mul(b)).collect()));
    for (name, body) in TARGETS {
        for data in &junk {
            let r = catch_unwind(AssertUnwindSafe(|| body(data)));
            assert!(r.is_ok(), "{name} failed on {data:?}");
        }
    }
}
