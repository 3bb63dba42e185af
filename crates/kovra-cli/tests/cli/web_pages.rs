//! The web UI's record detail (where a record is used, its last use), agents, providers and
//! two-factor pages, in Debian's headless Chromium against the real daemon
//! (`tests/support/web_pages.mjs`): a record a `kovra run` injected from a `.env.refs`
//! shows that file, the variable and a last use; the agents page lists a profile and the
//! web sessions; the providers page lists them; the two-factor page shows the state and the
//! terminal command. The planted value is in no page and no response.

use std::process::Stdio;

use crate::harness::{Home, PASSPHRASE, describe, test_tool_dir};
use crate::leak::{assert_absent, canary};

const USED: &str = "secret:dev/app/API_KEY";

fn login_link(h: &Home) -> String {
    let out = h.run_pty(&["ui", "--no-open"], &[PASSPHRASE]);
    assert!(out.status.success(), "kovra ui: {}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("http://localhost:").expect("a link");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

fn browse(h: &Home, config: serde_json::Value) -> (serde_json::Value, Vec<u8>) {
    crate::web_ui::run_script(h, "web_pages.mjs", config)
}

#[test]
fn the_record_detail_agents_providers_and_two_factor_pages() {
    let chromium = std::path::PathBuf::from("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "run scripts/test.sh, which installs chromium"
    );
    let playwright = test_tool_dir("playwright").join("node_modules/playwright-core");
    assert!(
        playwright.is_dir(),
        "run scripts/test.sh, which installs playwright-core"
    );
    let h = Home::init();
    let value = canary("web-pages");
    h.add_ok(
        "secret:dev/app/AAA_FIRST",
        b"not-a-secret-first",
        &["--provider", "openai"],
    );
    h.add_ok(USED, value.as_bytes(), &[]);
    // A run from a project whose refs file names the record.
    let project = h.root.join("shop");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".env.refs"), format!("SHOP_KEY={USED}\n")).unwrap();
    let mut c = h.cmd(&["run", "--", "sh", "-c", "test -n \"$SHOP_KEY\""]);
    c.current_dir(&project).stdin(Stdio::null());
    let out = h.run_with(c, None);
    assert!(out.status.success(), "the run: {}", describe(&out));
    h.ok(&["agent", "create", "ci-bot", "--environments", "dev"]);

    let link = login_link(&h);
    let (r, seen) = browse(
        &h,
        serde_json::json!({
            "chromium": chromium,
            "playwright": playwright,
            "link": link,
            "coordinate": USED,
            "screenshots": std::env::var_os("KOVRA_WEB_SCREENSHOTS")
                .map(|p| p.to_string_lossy().into_owned()),
        }),
    );
    let b = {
        let mut b = r.clone();
        if let Some(o) = b.as_object_mut() {
            o.remove("pages");
            o.remove("bodies");
        }
        b
    };
    // The arrow keys reached the record's row and Enter opened it.
    assert_eq!(r["focused"], USED, "{b}");
    assert!(r["detail_title"].as_str().unwrap().starts_with(USED), "{b}");
    // Where it is used: the refs file, the variable, and when and by whom.
    let rows = r["usage_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{b}");
    let refs = project.join(".env.refs");
    assert_eq!(rows[0][0], refs.to_string_lossy().as_ref(), "{b}");
    assert_eq!(rows[0][1], "SHOP_KEY", "{b}");
    let last = r["usage_last"].as_str().unwrap();
    assert!(
        last.starts_with("Last used 20") && last.contains(" by cli/"),
        "{last}"
    );
    assert!(r["agents"].as_str().unwrap().contains("ci-bot"), "{b}");
    assert!(
        r["web_sessions"]
            .as_str()
            .unwrap()
            .starts_with("1 live web session"),
        "{b}"
    );
    // The providers page names the record pinned to each, from the one listing.
    let providers = r["providers"].as_str().unwrap();
    assert!(
        providers.contains("api.openai.comsecret:dev/app/AAA_FIRST"),
        "{providers}"
    );
    assert_eq!(r["twofa_state"], "off", "{b}");
    assert!(
        r["twofa_how"]
            .as_str()
            .unwrap()
            .contains("kovra 2fa enable"),
        "{b}"
    );
    assert_eq!(r["unlabelled"], serde_json::json!([]), "{b}");
    // The value is in no page, no response, nothing printed.
    for (name, html) in r["pages"].as_object().unwrap() {
        assert_absent(
            html.as_str().unwrap().as_bytes(),
            &value,
            &format!("the {name} page"),
        );
    }
    for body in r["bodies"].as_array().unwrap() {
        assert_absent(body.as_str().unwrap().as_bytes(), &value, "a response body");
    }
    assert_absent(&seen, &value, "the browser script's output");
}
