//! `kovra import` and `kovra export --format dotenv`: a `.env` of tricky entries is read
//! exactly as python-dotenv and Node's dotenv read it (compared by SHA-256 in the child of
//! `kovra run`, never by value), in one transaction; `--shred` leaves no copy; a malformed
//! line stops the import at FILE:LINE:COLUMN with nothing written; production never leaves.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::leak::canary;

/// 30 entries python-dotenv and Node's dotenv both read, and read alike: quotes, escapes,
/// multi-line values, `=` in values, unicode, empty values, comments, `export`, CRLF.
fn tricky_env(c: &str) -> String {
    let long: String = (0..40).map(|i| format!("{c}{i:02}")).collect();
    [
        "# a comment line, then a blank one".to_string(),
        String::new(),
        format!("PLAIN={c}-plain"),
        format!("export EXPORTED={c}-exported"),
        format!("SPACED = {c} spaced value   "),
        format!("EQUALS={c}=a=b==c"),
        format!("URL=postgres://user:p%40ss@db.example:5432/app?sslmode=require&x={c}"),
        format!("SQ='{c} single # not a comment'"),
        format!("DQ=\"{c} double # not a comment\""),
        format!("DQ_NL=\"{c}\\nsecond line\""),
        format!("DQ_CR=\"{c}\\rafter cr\""),
        format!("MULTI_DQ=\"-----BEGIN KEY-----\n{c}MIIBIjANBgkq\n-----END KEY-----\""),
        format!("MULTI_SQ='{c} first\nsecond\n  third'"),
        "EMPTY=".to_string(),
        "EMPTY_SQ=''".to_string(),
        "EMPTY_DQ=\"\"".to_string(),
        format!("UNICODE={c} héllo wörld ✓ 日本語"),
        format!("EMOJI=\"🔐 {c} ключ\""),
        format!("INLINE_COMMENT={c}-inline # a comment after a blank"),
        format!("SQ_WITH_DQ='say \"{c}\"'"),
        format!("DQ_WITH_SQ=\"it's {c}\""),
        format!("UNQ_QUOTES=it's \"{c}\" ok"),
        format!("BACKSLASH_UNQ=C:\\path\\{c}\\file"),
        format!("DQ_OTHER_ESC=\"\\d+\\.{c}\\w\""),
        format!("DOLLAR=$HOME/{c}/bin"),
        format!("SQ_DOLLAR='$NOT_EXPANDED {c}'"),
        format!("PADDED_SQ='  {c} padded  '"),
        format!("TAB_SQ='{c}\tafter tab'"),
        format!("JSON={{\"k\":\"{c}\",\"n\":[1,true,null]}}"),
        format!("TRAILING_SQ='{c}-quoted'   # comment"),
        format!("CRLF={c}-windows\r"),
        format!("LONG={long}"),
        String::new(),
    ]
    .join("\n")
}

/// `NAME -> sha256(value)` as printed by a program, one `NAME HEX` per line.
pub(super) fn hashes(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, h)| (n.to_string(), h.to_string()))
        .collect()
}

fn python_dotenv(file: &Path) -> BTreeMap<String, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import dotenv,hashlib,sys\n\
             for k,v in dotenv.dotenv_values(sys.argv[1]).items():\n\
             \x20   print(k, hashlib.sha256((v or '').encode()).hexdigest())",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "python-dotenv: {}", describe(&out));
    hashes(&stdout(&out))
}

fn node_dotenv(file: &Path) -> BTreeMap<String, String> {
    let module = test_tool_dir("dotenv").join("node_modules/dotenv");
    assert!(
        module.join("package.json").exists(),
        "Node's dotenv is missing: run `bash scripts/test.sh` (it installs it with npm)"
    );
    let out = Command::new("node")
        .args([
            "-e",
            "const d=require(process.argv[1]),fs=require('fs'),c=require('crypto');\
             const v=d.parse(fs.readFileSync(process.argv[2]));\
             for(const k of Object.keys(v)){console.log(k+' '+c.createHash('sha256').update(v[k],'utf8').digest('hex'))}",
        ])
        .arg(&module)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "node dotenv: {}", describe(&out));
    hashes(&stdout(&out))
}

/// The child of `kovra run`: the hash of each named variable it received, never a value.
pub(super) const CHILD: &str = "import hashlib,os,sys\n\
for k in sys.argv[1:]:\n\
\x20   if k in os.environ: print(k, hashlib.sha256(os.environ[k].encode()).hexdigest())";

fn values_of(text: &str) -> Vec<Vec<u8>> {
    // Every value a reader could print, as far as a scan can find it: long runs of the
    // canary-bearing lines' text.
    text.lines()
        .filter(|l| l.len() > 12)
        .map(|l| l.split_once('=').map_or(l, |(_, v)| v))
        .map(|v| {
            v.trim_matches(|c| c == '"' || c == '\'')
                .as_bytes()
                .to_vec()
        })
        .filter(|v| v.len() > 12)
        .collect()
}

#[test]
fn an_import_reads_what_python_dotenv_and_node_dotenv_read_and_shred_leaves_no_copy() {
    require_python_module("dotenv");
    let p = Project::new();
    let c = canary("dotenv");
    let text = tricky_env(&c);
    let file = p.dir.join(".env");
    std::fs::write(&file, &text).unwrap();
    let py = python_dotenv(&file);
    let node = node_dotenv(&file);
    assert_eq!(py.len(), 30, "python-dotenv read {py:?}");
    assert_eq!(
        py, node,
        "the two libraries disagree on the test file itself"
    );

    // The plan first: names, coordinates and sensitivities, never a value.
    let mut c1 = p.cmd(&["import", ".env", "--dry-run"]);
    c1.env("KOVRA_APPROVAL_WAIT", "0");
    let out = p.h.run_with(c1, None);
    assert!(out.status.success(), "dry run: {}", describe(&out));
    let plan = stdout(&out);
    assert!(plan.contains("MULTI_DQ") && plan.contains("secret:dev/app/MULTI_DQ"));
    assert!(stderr(&out).contains("nothing was written"));
    let (_, listed) = p.h.json(&["list", "--env", "dev"]);
    assert_eq!(
        listed["records"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );

    // As a human at a terminal: written, `.env.refs` beside it, the file shredded.
    let out = p.h.run_with(
        p.h.pty_answer_cmd(
            "answers",
            &["import", &file.to_string_lossy(), "--write-refs", "--shred"],
            &[PASSPHRASE],
        ),
        None,
    );
    assert!(out.status.success(), "import: {}", describe(&out));
    assert!(!file.exists(), "--shred left the file");
    let refs = std::fs::read_to_string(p.dir.join(".env.refs")).unwrap();
    assert!(refs.contains("env = dev\n") && refs.contains("CRLF=secret:${ENV}/app/CRLF\n"));

    // What a child of `kovra run` receives has the same hashes.
    let mut args = vec!["run", "--", "python3", "-c", CHILD];
    let names: Vec<String> = py.keys().cloned().collect();
    args.extend(names.iter().map(String::as_str));
    let out = p.h.run_with(p.cmd(&args), None);
    assert!(out.status.success(), "run: {}", describe(&out));
    let injected = hashes(&stdout(&out));
    for (name, hash) in &py {
        assert_eq!(injected.get(name), Some(hash), "{name} differs");
    }

    // No value in any output, in the project directory or the home's files.
    let needles = values_of(&text);
    assert!(needles.len() >= 20);
    assert!(!p.h.transcript_contains(&needles), "a value was printed");
    assert!(p.h.files_containing(&needles).is_empty());
    let mut in_project = Vec::new();
    walk(&p.dir, &mut |f| {
        let bytes = std::fs::read(f).unwrap_or_default();
        if needles.iter().any(|n| contains(&bytes, n)) {
            in_project.push(f.to_path_buf());
        }
    });
    assert!(in_project.is_empty(), "copies left: {in_project:?}");
    // One audit entry per record.
    assert_eq!(audit(&p.h, &["--action", "import"]).len(), 30);
}

#[test]
fn a_malformed_line_stops_the_import_with_its_position_and_imports_nothing() {
    let p = Project::new();
    let c = canary("bad-line");
    let text = format!("A={c}-a\nB='{c}-b'\n\nexport C=\"{c}\\tc\"\nD={c}-d\n");
    let file = p.dir.join("bad.env");
    std::fs::write(&file, &text).unwrap();
    let mut seen = Vec::new();
    let out =
        p.h.agent(&["import", &file.to_string_lossy(), "--shred"], &mut seen);
    assert_exit(&out, 1, "a malformed line");
    let err = stderr(&out);
    let column = "export C=\"".len() + c.len() + 1;
    assert!(
        err.contains(&format!("{}:4:{column}:", file.display())),
        "{err}"
    );
    assert!(err.contains("dotenv-invalid"), "{err}");
    assert!(file.exists(), "a refused import shredded the file");
    assert!(!contains(&seen, c.as_bytes()));
    let (_, listed) = p.h.json(&["list"]);
    assert_eq!(
        listed["records"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}

#[test]
fn existing_records_refuse_the_whole_import_unless_forced_and_provider_keys_get_a_pin() {
    let p = Project::new();
    let c = canary("exists");
    p.add(
        "secret:dev/app/B",
        &format!("{c}-old"),
        &["--sensitivity", "high"],
    );
    let file = p.dir.join(".env");
    let key = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0kLmNoP");
    std::fs::write(
        &file,
        format!("A={c}-a\nB={c}-b\nGH={key}\nOPENAI_API_KEY={c}-o\n"),
    )
    .unwrap();
    let mut seen = Vec::new();
    let out = p.h.agent(&["import", &file.to_string_lossy()], &mut seen);
    assert_exit(&out, 1, "an existing record");
    assert!(stderr(&out).contains("record-exists"), "{}", describe(&out));
    let (_, listed) = p.h.json(&["list"]);
    assert_eq!(
        listed["records"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // --force replaces a high record: a proof, typed at the terminal.
    let out = p.h.run_with(
        p.h.pty_answer_cmd(
            "answers",
            &["import", &file.to_string_lossy(), "--force"],
            &[PASSPHRASE],
        ),
        None,
    );
    assert!(out.status.success(), "import --force: {}", describe(&out));
    let table = stdout(&out);
    assert!(table.contains("github (key format)"), "{table}");
    assert!(table.contains("openai (name)"), "{table}");
    assert!(table.contains("replace"), "{table}");
    let (_, shown) = p.h.json(&["show", "secret:dev/app/GH"]);
    assert_eq!(shown["sensitivity"], "high", "{shown}");
    assert!(!p.h.transcript_contains(&[c.clone().into_bytes(), key.into_bytes()]));
    assert!(!contains(&seen, c.as_bytes()));
}

#[test]
fn export_writes_dotenv_for_a_human_with_a_proof_and_never_production() {
    require_python_module("dotenv");
    let p = Project::new();
    let c = canary("export");
    p.add("secret:dev/app/ONE", &format!("{c} it's one"), &[]);
    p.add("secret:dev/app/multi-line", &format!("{c}\nsecond"), &[]);
    p.add("secret:production/app/PROD", &format!("{c}-prod"), &[]);

    let mut seen = Vec::new();
    let out =
        p.h.agent(&["export", "--format", "dotenv", "--env", "dev"], &mut seen);
    assert_exit(&out, 4, "an agent's export");
    assert!(
        stderr(&out).contains("only a human exports"),
        "{}",
        describe(&out)
    );
    assert!(!contains(&seen, c.as_bytes()));

    let out = p.h.run_pty(
        &["export", "--format", "dotenv", "--env", "production"],
        &[PASSPHRASE],
    );
    assert!(!out.status.success());
    assert!(
        describe(&out).contains("never exported"),
        "{}",
        describe(&out)
    );
    assert!(!contains(&out.stdout, c.as_bytes()));

    let out = p.h.run_pty(
        &["export", "--format", "dotenv", "--env", "dev"],
        &[PASSPHRASE],
    );
    assert!(out.status.success(), "export: {}", describe(&out));
    // The PTY merges the streams: the dotenv lines are those of the output that parse.
    let text = stdout(&out);
    let lines: String = text
        .lines()
        .skip_while(|l| !l.starts_with("ONE=") && !l.starts_with("multi_line="))
        .take_while(|l| !l.starts_with("kovra:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = p.dir.join("exported.env");
    std::fs::write(&file, lines).unwrap();
    let py = python_dotenv(&file);
    let sha = |v: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(v.as_bytes()))
    };
    assert_eq!(
        py.get("ONE"),
        Some(&sha(&format!("{c} it's one"))),
        "{py:?}"
    );
    assert_eq!(
        py.get("multi_line"),
        Some(&sha(&format!("{c}\nsecond"))),
        "{py:?}"
    );
    assert_eq!(py, node_dotenv(&file));
    assert!(!text.contains("PROD"));
}
