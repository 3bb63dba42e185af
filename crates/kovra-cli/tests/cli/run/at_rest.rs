//! No plaintext at rest: nothing of a value lands in any file under the home or the project.

use super::redaction::PY_ENCODINGS;
use super::*;

// ---------------------------------------------------------------------------------------
// No plaintext at rest
// ---------------------------------------------------------------------------------------

#[test]
fn no_plaintext_lands_in_any_file_under_the_home_or_the_project() {
    let p = Proj::new();
    let (token, password, high) = (
        tricky_canary("rest-token"),
        canary("rest-pw"),
        canary("rest-high"),
    );
    // Restart the daemon so that it logs all it can.
    stop_and_wait(&p.h);
    let pass = p.h.pass_file.display().to_string();
    let mut c = p.cmd(&["unlock", "--passphrase-file", &pass]);
    c.env("KOVRA_LOG", "trace");
    let out = p.h.run_with(c, None);
    assert!(out.status.success(), "{}", describe(&out));
    p.add("secret:dev/app/token", &token, &[]);
    p.add("secret:dev/db/password", &password, &[]);
    p.add("secret:dev/api/key", &high, &["--sensitivity", "high"]);
    p.refs(concat!(
        "TOKEN=secret:${ENV}/app/token\n",
        "URL=\"postgres://u:{{secret:${ENV}/db/password}}@h/db\"\n",
    ));
    let runs: &[&[&str]] = &[
        &run_dev(&["python3", "-c", PY_ENCODINGS]),
        &run_dev(&["sh", "-c", "echo \"$URL\" >&2"]),
        &run_dev(&["env"]),
    ];
    for args in runs {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    // Output redirected into a file of the project (`kovra run … > run.log 2>&1`): the
    // daemon writes into that file, redacted.
    let log = p.dir.join("run.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut c = p.cmd(&run_dev(&["python3", "-c", PY_ENCODINGS]));
    c.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    assert!(c.status().unwrap().success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("plain:[kovra:TOKEN]"), "{logged}");
    assert!(logged.contains("err-plain:[kovra:TOKEN]"), "{logged}");
    // Refused runs too: a high record into a non-allowlisted executable, and a bad line.
    std::fs::write(p.dir.join("high.refs"), "KEY=secret:dev/api/key\n").unwrap();
    let out = p.run(&["run", "--refs", "high.refs", "--", "env"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    std::fs::write(
        p.dir.join("bad.refs"),
        "TOKEN=secret:dev/app/token\nX=secret:dev/no/pe\n",
    )
    .unwrap();
    let out = p.run(&["run", "--refs", "bad.refs", "--", "env"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    stop_and_wait(&p.h);
    for (what, v) in [("token", &token), ("password", &password), ("high", &high)] {
        assert_not_in_files(&p.h, v, what);
        assert_not_in_dirs(&[&p.dir], v, &format!("the project ({what})"));
    }
    // And nothing of it was printed.
    let t = p.h.transcript.borrow();
    for v in [&token, &password, &high] {
        assert_absent_decoded(&t, v, "transcript");
    }
}
