//! The lines a commit adds, from `git diff --cached --unified=0`: only what the commit puts
//! in the repository can leak through it, so removed and unchanged lines are not scanned.
//! Hand-written because it reads four kinds of line of git's own output, no more.

use kovra_proto::ScanText;

/// Each hunk's added lines as one text, labelled with its file and first line number.
pub fn added(diff: &str) -> Vec<ScanText> {
    let mut out = Vec::new();
    let mut file: Option<String> = None;
    let mut current: Option<ScanText> = None;
    let mut next_line = 0u32;
    // Between `diff --git` and the first `@@`, `--- ` and `+++ ` are headers; inside a
    // hunk, a line `+++ x` is an added line `++ x`.
    let mut in_header = false;
    for line in diff.split('\n') {
        if line.starts_with("diff --git ") {
            flush(&mut out, &mut current);
            file = None;
            in_header = true;
        } else if in_header && line.starts_with("+++ ") {
            file = match &line[4..] {
                "/dev/null" => None,
                p => Some(p.strip_prefix("b/").unwrap_or(p).to_string()),
            };
        } else if line.starts_with("@@ ") {
            flush(&mut out, &mut current);
            in_header = false;
            next_line = new_start(line).unwrap_or(1);
        } else if in_header {
            continue;
        } else if let (Some(text), Some(path)) = (line.strip_prefix('+'), &file) {
            match &mut current {
                Some(t) => {
                    t.text.push('\n');
                    t.text.push_str(text);
                }
                None => {
                    current = Some(ScanText {
                        label: path.clone(),
                        first_line: next_line,
                        text: text.to_string(),
                    })
                }
            }
            next_line += 1;
        }
    }
    flush(&mut out, &mut current);
    out
}

fn flush(out: &mut Vec<ScanText>, current: &mut Option<ScanText>) {
    if let Some(t) = current.take() {
        out.push(t);
    }
}

/// `@@ -a,b +c,d @@` → `c`.
fn new_start(header: &str) -> Option<u32> {
    let plus = header.split(' ').find(|w| w.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_lines_with_their_numbers() {
        let diff = "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -3,0 +4,2 @@ def f():\n+a = 1\n+b = 2\n@@ -10 +12 @@\n-old\n+new\ndiff --git a/gone b/gone\n--- a/gone\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n";
        let t = added(diff);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].label.as_str(), t[0].first_line, t[0].text.as_str()),
            ("x.py", 4, "a = 1\nb = 2")
        );
        assert_eq!((t[1].first_line, t[1].text.as_str()), (12, "new"));
        // An added line that itself starts with `++ ` is content, not a header.
        let diff = "diff --git a/y b/y\n--- a/y\n+++ b/y\n@@ -0,0 +1 @@\n+++ not a header\n";
        assert_eq!(added(diff)[0].text, "++ not a header");
    }
}
