//! `docker-compose.yml` and GitHub Actions workflows: the keys of their `environment:` and
//! `env:` blocks, and the names their expressions read (`${X}` in compose, `${{ secrets.X }}`
//! and `${{ env.X }}` in a workflow).
//!
//! Read line by line by indentation rather than with a YAML parser: only keys are wanted,
//! and a file that is not quite valid YAML (a template, a merge conflict) still yields its
//! names. Flow-style blocks (`environment: [A, B]`) are not read.

use std::sync::LazyLock;

use regex::Regex;

use super::extract::{Hit, is_name};

/// Compose's `${X}`, `${X:-default}`, `${X?err}`, and `$X` (`$$` is a literal dollar).
static COMPOSE_VAR: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))").ok());

/// A workflow expression's `secrets.X` and `env.X` (inside `${{ … }}`).
static WORKFLOW_REF: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b(secrets|env)\.([A-Za-z_][A-Za-z0-9_]*)").ok());

/// A compose file: `environment:` keys (map or list form) and interpolated variables.
pub fn compose(text: &str) -> Vec<Hit> {
    let mut hits = block_keys(text, "environment");
    for (i, line) in text.lines().enumerate() {
        if is_comment(line) {
            continue;
        }
        let Some(re) = COMPOSE_VAR.as_ref() else {
            break;
        };
        for c in re.captures_iter(line) {
            let dollar = c.get(0).map_or(0, |m| m.start());
            if dollar > 0 && line.as_bytes().get(dollar - 1) == Some(&b'$') {
                continue;
            }
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                hits.push(hit(m.as_str(), i + 1, false));
            }
        }
    }
    sort(hits)
}

/// A workflow: `env:` keys at any level, and `secrets.X` / `env.X` in expressions. A name
/// read as `secrets.X` is a secret whatever it looks like.
pub fn workflow(text: &str) -> Vec<Hit> {
    let mut hits = block_keys(text, "env");
    for (i, line) in text.lines().enumerate() {
        if is_comment(line) || !line.contains("${{") {
            continue;
        }
        let Some(re) = WORKFLOW_REF.as_ref() else {
            break;
        };
        for c in re.captures_iter(line) {
            if let (Some(kind), Some(name)) = (c.get(1), c.get(2)) {
                hits.push(hit(name.as_str(), i + 1, kind.as_str() == "secrets"));
            }
        }
    }
    sort(hits)
}

fn hit(name: &str, line: usize, secret: bool) -> Hit {
    Hit {
        name: name.to_string(),
        line,
        secret,
    }
}

fn sort(mut hits: Vec<Hit>) -> Vec<Hit> {
    // Line order; a secret reading of a line first, so it wins when the caller keeps one.
    hits.sort_by(|a, b| a.line.cmp(&b.line).then(b.secret.cmp(&a.secret)));
    hits
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The keys of every block `KEY:` (alone on its line, maybe as a list item `- KEY:`): the
/// more indented lines below it, as `NAME: value`, `NAME:`, `- NAME=value` or `- NAME`.
fn block_keys(text: &str, key: &str) -> Vec<Hit> {
    let lines: Vec<&str> = text.lines().collect();
    let mut hits = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(block_indent) = opens_block(lines[i], key) else {
            i += 1;
            continue;
        };
        i += 1;
        while i < lines.len() {
            let line = lines[i];
            let body = line.trim();
            if body.is_empty() || body.starts_with('#') {
                i += 1;
                continue;
            }
            if indent(line) <= block_indent {
                break;
            }
            let entry = match body.strip_prefix('-') {
                Some(item) => item.trim().split('=').next().unwrap_or_default(),
                None => body.split(':').next().unwrap_or_default(),
            };
            let name = entry.trim().trim_matches(['"', '\'']);
            if is_name(name) {
                hits.push(hit(name, i + 1, false));
            }
            i += 1;
        }
    }
    hits
}

/// Where `line` opens a `KEY:` block, the indentation of `KEY` (so `- env:` counts `env`'s).
fn opens_block(line: &str, key: &str) -> Option<usize> {
    let body = line.trim_start();
    let (body, lead) = match body.strip_prefix("- ") {
        Some(rest) => (rest.trim_start(), line.len() - rest.trim_start().len()),
        None => (body, indent(line)),
    };
    let rest = body.strip_prefix(key)?.strip_prefix(':')?.trim();
    (rest.is_empty() || rest.starts_with('#')).then_some(lead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(hits: &[Hit]) -> Vec<(String, usize, bool)> {
        hits.iter()
            .map(|h| (h.name.clone(), h.line, h.secret))
            .collect()
    }

    #[test]
    fn compose_environment_blocks_in_both_forms_and_interpolations() {
        let text = "\
services:
  web:
    image: \"shop:${IMAGE_TAG:-latest}\"
    environment:
      DATABASE_URL: postgres://db/shop
      STRIPE_SECRET_KEY:
      # COMMENTED_OUT: x
    ports: [\"8080:8080\"]
  worker:
    environment:
      - REDIS_URL=redis://cache
      - \"QUEUE_NAME\"
      - PRICE=$$5
    command: run --token $WORKER_TOKEN
";
        assert_eq!(
            names(&compose(text)),
            vec![
                ("IMAGE_TAG".into(), 3, false),
                ("DATABASE_URL".into(), 5, false),
                ("STRIPE_SECRET_KEY".into(), 6, false),
                ("REDIS_URL".into(), 11, false),
                ("QUEUE_NAME".into(), 12, false),
                ("PRICE".into(), 13, false),
                ("WORKER_TOKEN".into(), 14, false),
            ]
        );
    }

    #[test]
    fn workflow_env_keys_and_expressions_secrets_marked() {
        let text = "\
on: push
env:
  NODE_ENV: test
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - env:
          SENTRY_DSN: ${{ secrets.SENTRY_DSN }}
        run: npm test
      - name: deploy
        run: ./deploy.sh ${{ secrets.DEPLOY_TOKEN }} ${{ env.REGION }}
";
        assert_eq!(
            names(&workflow(text)),
            vec![
                ("NODE_ENV".into(), 3, false),
                ("SENTRY_DSN".into(), 10, true),
                ("SENTRY_DSN".into(), 10, false),
                ("DEPLOY_TOKEN".into(), 13, true),
                ("REGION".into(), 13, false),
            ]
        );
    }
}
