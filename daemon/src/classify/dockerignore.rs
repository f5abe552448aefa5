//! `.dockerignore` read line by line as Docker reads it (moby/patternmatcher), with positions.
//!
//! Docker's `ignorefile.ReadAll` strips a UTF-8 BOM, skips lines that start with `#`, trims
//! whitespace, keeps a leading `!` apart, applies Go's `filepath.Clean` and drops a leading `/`.
//! `patternmatcher.New` then checks each pattern with Go's `filepath.Match` syntax. A pattern
//! ending in a lone backslash (`bin\` written on Windows) is an escape with nothing after it on
//! Linux: the Docker of the Dev Spaces era accepted it and it matched nothing, so it is skipped
//! with a warning. Any other syntax error fails a Docker build today, and is an error here.
//! Braces are literal for Docker (Go has no alternation), so they are escaped before globset.

/// One pattern Docker would use, in globset syntax for [`super::patterns::PatternList`] (rooted).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based line number in the file.
    pub line: usize,
    /// The line as written, trimmed, for rule texts (`2: .dockerignore node_modules/`).
    pub written: String,
    /// The pattern after Docker's cleaning (`!` kept).
    pub docker: String,
    /// The same pattern for globset (`!` kept, braces and a leading `#` escaped).
    pub glob: String,
}

/// A line Docker would skip or refuse: 1-based line and column, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// `false`: Docker tolerates the line (it means nothing) and it is skipped; `true`: Docker refuses it.
    pub fatal: bool,
}

/// Every pattern of a `.dockerignore`, and the lines Docker would skip or refuse.
pub fn parse(text: &str) -> (Vec<Line>, Vec<Finding>) {
    let mut lines = Vec::new();
    let mut findings = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let raw = if i == 0 { raw.strip_prefix('\u{feff}').unwrap_or(raw) } else { raw };
        if raw.starts_with('#') {
            continue;
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let start_col = raw.len() - raw.trim_start().len() + 1;
        let (negated, body) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        if negated && body.is_empty() {
            findings.push(Finding {
                line: number,
                col: start_col,
                message: "'!' alone is not a pattern: Docker refuses it (write '!path' to re-include a path)".into(),
                fatal: true,
            });
            continue;
        }
        let mut cleaned = go_clean(body);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        let body_col = start_col + trimmed.find(body).unwrap_or(0);
        if let Err(e) = check_syntax(body) {
            let col = body_col + e.offset;
            let (message, fatal) = match e.kind {
                SyntaxKind::TrailingBackslash => (
                    format!(
                        "'{trimmed}' ends with a backslash, an escape with nothing after it: Docker ignores this line, so it is skipped (a Windows path? write '{}')",
                        suggest(trimmed)
                    ),
                    false,
                ),
                SyntaxKind::BadClass => (
                    format!("'{trimmed}' has a malformed character class [...]: Docker refuses this pattern"),
                    true,
                ),
            };
            findings.push(Finding { line: number, col, message, fatal });
            continue;
        }
        let docker = if negated { format!("!{cleaned}") } else { cleaned.clone() };
        let mut glob = escape_braces(&cleaned);
        if glob.starts_with('#') {
            glob.insert(0, '\\');
        }
        if negated {
            glob.insert(0, '!');
        }
        lines.push(Line { line: number, written: trimmed.to_string(), docker, glob });
    }
    (lines, findings)
}

/// What a Windows author most likely meant: backslashes as separators, no trailing one.
fn suggest(pattern: &str) -> String {
    let s = pattern.replace('\\', "/");
    let s = s.trim_end_matches('/');
    format!("{s}/")
}

fn escape_braces(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Go's `path.Clean` (Linux `filepath.Clean`): one slash at a time, no `.` elements, `..`
/// eaten with the element before it, no trailing slash, `.` for nothing.
pub fn go_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SyntaxKind {
    TrailingBackslash,
    BadClass,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct SyntaxError {
    kind: SyntaxKind,
    /// Byte offset in the pattern where the problem starts.
    offset: usize,
}

/// Go's `filepath.Match` syntax on Linux: `\` escapes the next character, `[...]` classes with
/// an optional `^`, ranges `a-z`, and no empty class.
fn check_syntax(p: &str) -> Result<(), SyntaxError> {
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() {
                    return Err(SyntaxError { kind: SyntaxKind::TrailingBackslash, offset: i });
                }
                i += 2;
            }
            b'[' => {
                let start = i;
                let bad = SyntaxError { kind: SyntaxKind::BadClass, offset: start };
                i += 1;
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if b.get(i) == Some(&b']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    i = class_char(b, i).ok_or(bad)?;
                    if b.get(i) == Some(&b'-') {
                        i = class_char(b, i + 1).ok_or(bad)?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Go's `getEsc`: one class character (maybe escaped) at `i`, which must not be `-` or `]` and
/// must be followed by more pattern. Returns the index after it.
fn class_char(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'-' | b']' => return None,
        b'\\' => i += 1,
        _ => {}
    }
    let c = b.get(i)?;
    // Skip a whole UTF-8 character.
    let width = match c {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    i += width;
    (i < b.len()).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        let cases = [
            ("a/b", "a/b"),
            ("./a/", "a"),
            ("a//b/./c/..", "a/b"),
            ("/a", "/a"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a/../..", ".."),
            (".", "."),
            ("bin\\", "bin\\"),
        ];
        for (input, want) in cases {
            assert_eq!(go_clean(input), want, "{input}");
        }
    }

    #[test]
    fn lines_as_docker_reads_them() {
        let text = "\u{feff}# comment\n  node_modules/ \n!./keep.md\n/dist\nbin\\\r\nobj\\\n {a,b}\n #x\n[]\n!\n*.md\n";
        let (lines, findings) = parse(text);
        let got: Vec<(usize, &str, &str)> =
            lines.iter().map(|l| (l.line, l.docker.as_str(), l.glob.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (2, "node_modules", "node_modules"),
                (3, "!keep.md", "!keep.md"),
                (4, "dist", "dist"),
                (7, "{a,b}", "\\{a,b\\}"),
                (8, "#x", "\\#x"),
                (11, "*.md", "*.md"),
            ]
        );
        let f: Vec<(usize, usize, bool)> = findings.iter().map(|f| (f.line, f.col, f.fatal)).collect();
        assert_eq!(f, vec![(5, 4, false), (6, 4, false), (9, 1, true), (10, 1, true)]);
        assert!(findings[0].message.contains("write 'bin/'"), "{}", findings[0].message);
    }

    #[test]
    fn go_match_syntax() {
        let ok = ["a", "a\\*", "[a-z]", "[^a]", "[\\]]x", "x]", "*", "**/a"];
        for p in ok {
            assert_eq!(check_syntax(p), Ok(()), "{p}");
        }
        let bad = [
            ("a\\", SyntaxKind::TrailingBackslash, 1),
            ("x[", SyntaxKind::BadClass, 1),
            ("[]", SyntaxKind::BadClass, 0),
            ("[a-]", SyntaxKind::BadClass, 0),
            ("[-a]", SyntaxKind::BadClass, 0),
            ("[a", SyntaxKind::BadClass, 0),
        ];
        for (p, kind, offset) in bad {
            assert_eq!(check_syntax(p), Err(SyntaxError { kind, offset }), "{p}");
        }
    }
}
