//! Without `KOVRA_HOME`, each kind of file goes to its XDG place (issue 21, point 9): the
//! vault under `$XDG_DATA_HOME/kovra`, `config.toml` under `$XDG_CONFIG_HOME/kovra`,
//! `daemon.log` under `$XDG_STATE_HOME/kovra` (or their `~/.local/share`, `~/.config`,
//! `~/.local/state` defaults). A config an earlier version left in the data directory is
//! moved once, mode kept. With `KOVRA_HOME` set everything stays under it (every other test).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// A user's environment on a throwaway `HOME`, without `KOVRA_HOME`; the daemon it starts
/// is stopped on drop.
struct User<'a> {
    h: &'a Home,
    home: PathBuf,
    xdg: Vec<(&'static str, PathBuf)>,
}

impl User<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.h.cmd(args);
        c.env_remove("KOVRA_HOME").env("HOME", &self.home);
        for v in ["XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"] {
            c.env_remove(v);
        }
        for (k, v) in &self.xdg {
            c.env(k, v);
        }
        c
    }

    fn ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.h.run_with(self.cmd(args), None);
        assert_exit(&out, 0, format!("{args:?}"));
        out
    }

    fn init(&self) {
        let pass = self.h.pass_file.to_str().unwrap();
        self.ok(&["init", "--passphrase-file", pass]);
    }

    fn production(&self) -> Vec<String> {
        let out = self.ok(&["--json", "status"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["production_environments"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for User<'_> {
    fn drop(&mut self) {
        let _ = self.h.run_with(self.cmd(&["daemon", "stop"]), None);
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn with_xdg_variables_the_config_and_log_live_in_their_places() {
    let h = Home::new();
    let user = User {
        h: &h,
        home: h.root.join("user"),
        xdg: vec![
            ("XDG_DATA_HOME", h.root.join("data")),
            ("XDG_CONFIG_HOME", h.root.join("cfg")),
            ("XDG_STATE_HOME", h.root.join("state")),
        ],
    };
    std::fs::create_dir_all(h.root.join("cfg/kovra")).unwrap();
    std::fs::write(
        h.root.join("cfg/kovra/config.toml"),
        "production_environments = [\"qa\"]\n",
    )
    .unwrap();
    user.init();
    assert!(h.root.join("data/kovra/vault.db").is_file());
    let log = h.root.join("state/kovra/daemon.log");
    assert!(log.is_file(), "no log at {}", log.display());
    assert_eq!(mode(&log), 0o600);
    assert!(!h.root.join("data/kovra/daemon.log").exists());
    assert!(!h.home.exists(), "KOVRA_HOME's directory was used");
    // The daemon read the config from XDG_CONFIG_HOME.
    assert!(user.production().contains(&"qa".to_string()));
}

#[test]
fn a_config_in_the_data_directory_moves_to_the_config_directory_once() {
    let h = Home::new();
    let home = h.root.join("user");
    let user = User {
        h: &h,
        home: home.clone(),
        xdg: vec![],
    };
    let data = home.join(".local/share/kovra");
    std::fs::create_dir_all(&data).unwrap();
    let old = data.join("config.toml");
    std::fs::write(&old, "production_environments = [\"qa\"]\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(data.join("daemon.log"), "an earlier daemon's line\n").unwrap();
    user.init();
    let new = home.join(".config/kovra/config.toml");
    assert!(new.is_file(), "not moved to {}", new.display());
    assert!(!old.exists(), "left in the data directory");
    assert_eq!(mode(&new), 0o600);
    assert!(user.production().contains(&"qa".to_string()));
    let log = std::fs::read_to_string(home.join(".local/state/kovra/daemon.log")).unwrap();
    assert!(log.contains("an earlier daemon's line"), "{log}");
    assert!(log.contains("moved config.toml"), "{log}");
    assert!(!data.join("daemon.log").exists());
}
