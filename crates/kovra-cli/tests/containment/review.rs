//! Findings of the adversarial review of issue 14, each shown end to end as `kovra-test`:
//! what an agent inside `kovra sandbox` (or one holding only a profile's socket) could do
//! that the containment model says it cannot.

use crate::harness::*;
use crate::lab::*;
use crate::nonroot::test_user;

/// What a profile did through the egress proxy is on the trail under its name: a pinned call
/// made inside the sandbox with the profile's placeholder (`proxy-use`) carries
/// `"agent": "bot"`, as every other entry of the profile does (containment.md §2).
#[test]
fn a_profiles_use_of_the_proxy_is_audited_under_its_name() {
    if test_user("review::a_profiles_use_of_the_proxy_is_audited_under_its_name") {
        return;
    }
    let lab = Lab::new("rv-audit");
    let out = lab.sandbox(
        "curl -sS --max-time 30 -o /dev/null -w 'status %{http_code}\\n' \
         https://api.openai.com/v1/echo -H \"Authorization: Bearer $OPENAI_API_KEY\"",
        &[],
    );
    assert!(stdout(&out).contains("status 200"), "{}", describe(&out));
    let (_, v) = lab.json(&["audit", "--action", "proxy-use"]);
    let uses = v["entries"].as_array().expect("entries").clone();
    assert!(!uses.is_empty(), "no proxy-use on the trail: {v}");
    for e in &uses {
        assert_eq!(e["agent"], AGENT, "a proxy use without the profile: {e}");
    }
    lab.assert_nothing_printed();
}
