//! The "Examples:" text under each command's help (`#[command(after_help = examples::X)]` in
//! `cli.rs`), kept apart so the definition stays readable. Every example is a real command
//! line; the test in `help/tests.rs` checks that every command has some.

pub const INIT: &str = "Examples:
  kovra init                                   # asks for a new passphrase at the terminal
  kovra init --passphrase-file ~/.kovra-pass   # unattended (the file is readable by your processes)";

pub const UNLOCK: &str = "Examples:
  kovra unlock                                 # asks for the passphrase (and a code with 2fa on)
  kovra unlock --passphrase-fd 3 3<pass.txt    # unattended, from a descriptor";

pub const TWO_FA: &str = "Examples:
  kovra 2fa enable                             # show a QR code, confirm with a code from your app
  kovra 2fa status";

pub const TWO_FA_ENABLE: &str = "Examples:
  kovra 2fa enable                             # asks for your passphrase, then a code
  kovra 2fa enable --code-file code.txt        # confirm with a code read from a file";

pub const TWO_FA_CONFIRM: &str = "Examples:
  kovra 2fa confirm                            # asks for a code from your authenticator app";

pub const TWO_FA_DISABLE: &str = "Examples:
  kovra 2fa disable                            # asks for your passphrase and a code";

pub const TWO_FA_STATUS: &str = "Examples:
  kovra 2fa status
  kovra 2fa status --json";

pub const PASSKEY: &str = "Examples:
  kovra passkey list
  kovra passkey remove 3q2-7w_xYzA                # asks a proof of presence";

pub const PASSKEY_LIST: &str = "Examples:
  kovra passkey list
  kovra passkey list --json";

pub const PASSKEY_REMOVE: &str = "Examples:
  kovra passkey remove 3q2-7w_xYzA                # an id from `kovra passkey list`";

pub const PASSKEY_ENROL: &str = "Examples:
  kovra passkey enrol                          # says where: `kovra ui`, in the browser";

pub const LOCK: &str = "Examples:
  kovra lock                                   # the daemon forgets the key; records stay sealed";

pub const STATUS: &str = "Examples:
  kovra status                                 # locked or unlocked, daemon, vault paths
  kovra status --agents                        # also the agent profiles and their last request";

pub const ADD: &str = "Examples:
  kovra add secret:dev/db/password             # asks for the value, hidden
  printf %s \"$TOKEN\" | kovra add secret:dev/github/token --stdin --sensitivity high
  kovra add secret:prod/stripe/key --sensitivity inject-only --description \"live key\"
  kovra add secret:dev/openai/api_key --provider openai   # only ever sent to OpenAI
  kovra add secret:dev/aws/mfa --totp          # a TOTP seed; `kovra code` prints its codes
  kovra add secret:dev/db/main --postgres      # paste postgres://user:pw@host:5432/db, hidden";

pub const CODE: &str = "Examples:
  kovra code secret:dev/aws/mfa                # the current 6-8 digit code
  kovra code secret:dev/aws/mfa --min-validity 10   # wait for a fresh code if < 10s remain";

pub const SET: &str = "Examples:
  kovra set secret:dev/db/password             # asks for the new value, hidden
  printf %s \"$NEW\" | kovra set secret:dev/db/password --stdin";

pub const GENERATE: &str = "Examples:
  kovra generate secret:dev/app/session_key    # 32 letters and digits, never printed
  kovra generate secret:dev/app/pin --length 6 --charset digits
  kovra generate secret:dev/db/password --overwrite   # rotate: a new value, same metadata";

pub const LIST: &str = "Examples:
  kovra list                                   # every record's metadata (no values)
  kovra list --env dev --json
  kovra list --json --offset 1000 --limit 1000  # the second page of 1,000 records";

pub const SHOW: &str = "Examples:
  kovra show secret:dev/db/password            # sensitivity, description, versions, provider";

pub const FINGERPRINT: &str = "Examples:
  kovra fingerprint secret:dev/db/password     # same fingerprint = same value
  kovra fingerprint secret:prod/db/password";

pub const EDIT: &str = "Examples:
  kovra edit secret:dev/db/password --description \"app database, user app\"
  kovra edit secret:dev/db/password --sensitivity high --no-revealable";

pub const RM: &str = "Examples:
  kovra rm secret:dev/old/token                # the record and all its versions";

pub const MV: &str = "Examples:
  kovra mv secret:dev/stripe/key --to-project app              # global -> project app
  kovra mv secret:dev/stripe/key --project app --to-global     # project app -> global";

pub const RENAME: &str = "Examples:
  kovra rename secret:dev/db/pass secret:dev/db/password       # same vault, new name
  kovra rename secret:dev/api/key secret:staging/api/key --project app";

pub const HISTORY: &str = "Examples:
  kovra history secret:dev/db/password         # its versions, the current one marked";

pub const ROLLBACK: &str = "Examples:
  kovra rollback secret:dev/db/password v2     # version 2's value becomes a new version";

pub const REVEAL: &str = "Examples:
  kovra reveal secret:dev/db/password          # only a revealable record, at your terminal";

pub const AUDIT: &str = "Examples:
  kovra audit --since 2h                       # the last two hours
  kovra audit --coordinate secret:prod/db/password --limit 20
  kovra audit --action reveal --json
  kovra audit verify                           # check the hash chain";

pub const AUDIT_VERIFY: &str = "Examples:
  kovra audit verify                           # exit 8 if any entry was edited or removed";

pub const PASSWD: &str = "Examples:
  kovra passwd                                 # asks for the old passphrase, then the new one";

pub const ROTATE_KEY: &str = "Examples:
  kovra rotate-key                             # new data keys for every record (needs a proof)";

pub const RECOVERY_KIT: &str = "Examples:
  kovra recovery-kit                           # shows the kit once at the terminal (needs a proof)
  kovra recovery-kit --out /media/usb/kovra-kit.txt   # or into a new file, mode 0600";

pub const RECOVER: &str = "Examples:
  kovra recover                                # asks for the kit, then a new passphrase twice";

pub const BACKUP: &str = "Examples:
  kovra backup ~/backups/vault-2026-12-05.kovra-backup";

pub const RESTORE: &str = "Examples:
  kovra restore ~/backups/vault-2026-12-05.kovra-backup     # asks for the backup's passphrase
  kovra restore old.kovra-backup --allow-rollback           # go back on purpose (needs a proof)";

pub const PROJECT: &str = "Examples:
  kovra project create shop
  kovra project list
  kovra --project shop add secret:dev/db/password   # a record in project shop's vault";

pub const PROJECT_CREATE: &str = "Examples:
  kovra project create shop                    # then: --project shop, or `project = shop` in .env.refs";

pub const PROJECT_LIST: &str = "Examples:
  kovra project list";

pub const DAEMON: &str = "Examples:
  kovra daemon --idle-timeout 3600             # run in the foreground, lock after an idle hour
  kovra daemon stop                            # lock and stop the running daemon";

pub const DAEMON_STOP: &str = "Examples:
  kovra daemon stop";

pub const DEMO: &str = "Examples:
  kovra demo                                   # creates and removes its own temporary vault";

pub const RUN: &str = "Examples:
  kovra run -- npm test                        # variables from ./.env.refs
  kovra run --env staging -- ./deploy.sh       # ${ENV} in coordinates becomes staging
  kovra run --only DATABASE_URL -- psql        # inject one variable
  kovra run --refs ci.env.refs --keep-env CI -- make check";

pub const DOCTOR: &str = "Examples:
  kovra doctor --env dev                       # does every line of ./.env.refs resolve?
  kovra doctor --connect                       # ... and does each #url database answer?
  kovra doctor --system                        # this machine's defences (no vault needed)";

pub const SCAFFOLD: &str = "Examples:
  kovra scaffold                               # print a .env.refs for the code in this directory
  kovra scaffold ~/src/shop --env staging      # another directory; `env = staging`
  kovra scaffold --write                       # write ./.env.refs (refused if one exists)
  kovra scaffold --write --force --group web   # replace it; new secrets under secret:${ENV}/web/…
  kovra scaffold --json | jq '.variables[] | select(.mapping.kind == \"new\") | .mapping.coordinate'";

pub const CONFIRM: &str = "Examples:
  kovra confirm \"deploy v1.4 to production\" && ./deploy.sh   # the deploy runs only once you approve
  kovra confirm \"drop the staging database\" --ttl 60       # no terminal: wait 60 s for `kovra approve`";

pub const ALLOW: &str = "Examples:
  kovra allow add /usr/bin/psql                # pin its SHA-256 (asks for a proof)
  kovra allow list";

pub const ALLOW_ADD: &str = "Examples:
  kovra allow add python3                      # a bare name is looked up on PATH
  kovra allow add ./bin/deploy";

pub const ALLOW_LIST: &str = "Examples:
  kovra allow list                             # path, pinned hash, when it was allowed";

pub const ALLOW_RM: &str = "Examples:
  kovra allow rm /usr/bin/psql";

pub const APPROVE: &str = "Examples:
  kovra approve                                # what waits, with its facts
  kovra approve 7f3a9c                         # approve one (asks for your passphrase)
  kovra approve 7f3a9c --grant 15m             # and let the same run through for 15 minutes
  kovra approve 7f3a9c --grant 1h --grant-profile  # the agent profile may inject these coordinates";

pub const GRANTS: &str = "Examples:
  kovra approve 7f3a9c --grant 15m             # approve, and let the same run through for 15 min
  kovra grants                                 # the live grants: what each covers, when it ends
  kovra grants revoke g1a2b3c                  # end one now";

pub const GRANTS_LIST: &str = "Examples:
  kovra grants list
  kovra grants --json";

pub const GRANTS_REVOKE: &str = "Examples:
  kovra grants revoke g1a2b3c";

pub const REQUESTS: &str = "Examples:
  kovra requests                               # then `kovra add COORD` closes one";

pub const DENY: &str = "Examples:
  kovra deny 7f3a9c";

pub const MCP: &str = "Examples:
  kovra mcp                                    # what .mcp.json starts; speaks MCP on stdio
  kovra mcp --agent claude-code-shop           # under that profile's scope
  KOVRA_MCP_OPERATIONS=metadata kovra mcp      # narrower: metadata only";

pub const AGENT: &str = "Examples:
  kovra agent create ci --environments dev,staging --ttl 8h
  kovra agent list
  kovra agent revoke ci";

pub const SANDBOX: &str = "Examples:
  kovra sandbox -- claude                      # an agent with no vault, ~/.ssh or open network
  kovra sandbox --agent ci --writable ~/.cache -- make test
  kovra sandbox --dry-run -- bash              # show the bubblewrap command line";

pub const SETUP: &str = "Examples:
  kovra setup                                  # wire this directory for Claude Code
  kovra setup --client cursor,codex --dry-run  # show what would change
  kovra setup --sandbox --environments dev,staging
  kovra setup --inject-values dev/db            # the agent's runs may get dev/db values (asks your passphrase)";

pub const API: &str = "Examples:
  kovra api openai GET /v1/models --env dev
  kovra api github POST /repos/me/app/issues --body '{\"title\":\"hi\"}'
  kovra api github GET /search/code -q q=kovra -H 'Accept: application/json' --include";

pub const PROVIDERS: &str = "Examples:
  kovra providers                              # built-in and custom providers
  kovra providers show github
  kovra providers add ./internal-api.toml";

pub const PROVIDERS_SHOW: &str = "Examples:
  kovra providers show openai                  # hosts, auth, claimed names, rate limit";

pub const PROVIDERS_ADD: &str = "Examples:
  kovra providers add ./internal-api.toml      # asks for a proof of presence";

pub const PROVIDERS_RM: &str = "Examples:
  kovra providers rm internal-api";

pub const BIND: &str = "Examples:
  kovra bind secret:dev/openai/api_key openai
  kovra bind secret:dev/cf/token cloudflare --host api.cloudflare.com";

pub const IDENTITY: &str = "Examples:
  kovra identity                               # give the recipient to whoever shares with you";

pub const SHARE: &str = "Examples:
  kovra share --env dev --to age1qyqszqgpqyqszqgpqyqszqgpqyqszqgp...
  kovra share --env staging --group db --to ~/.ssh/alice.pub --ttl 2d --out staging.age";

pub const RECEIVE: &str = "Examples:
  kovra receive kovra-share-dev-1a2b.age       # asks for the token the sender read to you
  kovra receive pkg.age --token-file token.txt --accept-sender 3f9a...";

pub const KIT: &str = "Examples:
  kovra kit init /media/usb/kovra              # on this machine
  bash /media/usb/kovra/install.sh             # on the new machine
  kovra kit seal /media/usb/kovra --env dev    # back here
  kovra kit open /media/usb/kovra              # on the new machine";

pub const KIT_INIT: &str = "Examples:
  kovra kit init /media/usb/kovra";

pub const KIT_ENROLL: &str = "Examples:
  kovra kit enroll /media/usb/kovra            # what install.sh runs on the new machine";

pub const KIT_SEAL: &str = "Examples:
  kovra kit seal /media/usb/kovra --env dev --group db --ttl 1d";

pub const KIT_OPEN: &str = "Examples:
  kovra kit open /media/usb/kovra              # asks for the token `kit seal` showed";

pub const COMPLETIONS: &str = "Examples:
  source <(kovra completions bash)             # this shell only
  kovra completions bash > ~/.local/share/bash-completion/completions/kovra
  kovra completions zsh > ~/.zfunc/_kovra      # with fpath+=(~/.zfunc) in ~/.zshrc
  kovra completions fish > ~/.config/fish/completions/kovra.fish";

pub const MAN: &str = "Examples:
  kovra man | man -l -                         # read the page
  kovra man --dir ~/.local/share/man/man1      # one page per command";

pub const HOOK: &str = "Examples:
  kovra hook file-guard                        # run by Claude Code, see docs/setup.md";

pub const SANDBOX_INIT: &str = "Examples:
  kovra sandbox-init --egress-socket /run/egress.sock --port 8080 -- CMD   # by `kovra sandbox`";

pub const AGENT_CREATE: &str = "Examples:
  kovra agent create ci                        # metadata and inject, non-production
  kovra agent create ci --environments dev --egress pypi.org,files.pythonhosted.org --ttl 8h
  kovra agent create ops --production --operations metadata,inject   # asks for a proof";

pub const AGENT_LIST: &str = "Examples:
  kovra agent list
  kovra agent list --json";

pub const AGENT_REVOKE: &str = "Examples:
  kovra agent revoke ci                        # its socket closes at once";

pub const AGENT_ENV: &str = "Examples:
  kovra agent env ci --env dev > .env          # placeholders, useless outside kovra's proxy";

pub const HOOK_PRE_COMMIT: &str = "Examples:
  kovra hooks install                          # writes .git/hooks/pre-commit, which runs this
  KOVRA_HOOK_BYPASS=1 git commit -m wip        # skip the scan once (on the trail)";

pub const HOOK_PROMPT: &str = "Examples:
  kovra setup                                  # writes it into .claude/settings.json
  echo '{\"prompt\":\"hi\"}' | kovra hook prompt  # exit 2 blocks a prompt holding a secret";

pub const HOOK_TOOL_OUTPUT: &str = "Examples:
  kovra setup                                  # writes it into .claude/settings.json";

pub const HOOKS_INSTALL: &str = "Examples:
  kovra hooks install                          # in a git repository
  kovra hooks install --force                  # replace a pre-commit hook that is not kovra's";

pub const HOOK_FILE_GUARD: &str = "Examples:
  kovra hook file-guard < tool-call.json       # exit 2 refuses the tool call";

pub const CANARY: &str = "Examples:
  kovra canary create secret:prod/billing/OPENAI_API_KEY --like openai
  kovra canary list                            # which records are canaries (asks a proof)";

pub const CANARY_CREATE: &str = "Examples:
  kovra canary create secret:prod/billing/OPENAI_API_KEY --like openai
  kovra canary create secret:dev/ci/GH_TOKEN --like github --description 'CI deploys'";

pub const CANARY_LIST: &str = "Examples:
  kovra canary list                            # as `kovra list` shows records
  kovra canary list --json";
