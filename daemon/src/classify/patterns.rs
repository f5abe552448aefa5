//! Ordered glob lists with gitignore-like semantics: last match wins, `!` negates, braces expand.

use globset::{Glob, GlobBuilder, GlobMatcher};

/// How a pattern without a slash is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchoring {
    /// `*.py` matches at any depth, as in `.gitignore` and azds.yaml sync rules.
    Floating,
    /// Every pattern is relative to the root, as in `.dockerignore`.
    Rooted,
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    negated: bool,
    matcher: GlobMatcher,
}

/// A compiled ordered list of patterns.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    patterns: Vec<Pattern>,
    /// Only negations were given: start from everything.
    implicit_all: bool,
}

/// A glob that did not compile, with the reason globset gave.
#[derive(Debug, Clone, PartialEq)]
pub struct BadPattern {
    pub index: usize,
    pub pattern: String,
    pub reason: String,
}

/// The verdict of a list on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// The last matching pattern was positive.
    Included(&'a str),
    /// The last matching pattern was a negation.
    Excluded(&'a str),
    /// Nothing matched.
    Unmatched,
}

/// Compiles one pattern body (without `!`) into a glob.
pub fn compile_glob(body: &str, anchoring: Anchoring) -> Result<Glob, String> {
    let mut body = body.trim().trim_start_matches("./").to_string();
    let rooted_by_slash = body.starts_with('/');
    body = body.trim_start_matches('/').trim_end_matches('/').to_string();
    if body.is_empty() {
        return Err("empty pattern".to_string());
    }
    if anchoring == Anchoring::Floating && !rooted_by_slash && !body.contains('/') {
        body = format!("**/{body}");
    }
    GlobBuilder::new(&body).literal_separator(true).backslash_escape(true).build().map_err(|e| e.kind().to_string())
}

impl PatternList {
    pub fn new<S: AsRef<str>>(patterns: &[S], anchoring: Anchoring) -> Result<Self, BadPattern> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for (index, p) in patterns.iter().enumerate() {
            let text = p.as_ref().trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let (negated, body) = match text.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let glob = compile_glob(body, anchoring).map_err(|reason| BadPattern {
                index,
                pattern: text.to_string(),
                reason,
            })?;
            compiled.push(Pattern { text: text.to_string(), negated, matcher: glob.compile_matcher() });
        }
        // Docker reads a `.dockerignore` of only `!` lines as ignoring nothing.
        let implicit_all =
            anchoring == Anchoring::Floating && !compiled.is_empty() && compiled.iter().all(|p| p.negated);
        Ok(PatternList { patterns: compiled, implicit_all })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Judges `path` (relative, `/`-separated); a pattern matching a parent folder covers its contents.
    pub fn verdict(&self, path: &str) -> Verdict<'_> {
        let mut verdict = if self.implicit_all { Verdict::Included("**") } else { Verdict::Unmatched };
        for p in &self.patterns {
            if matches_self_or_parent(&p.matcher, path) {
                verdict = if p.negated { Verdict::Excluded(&p.text) } else { Verdict::Included(&p.text) };
            }
        }
        verdict
    }

    /// The index (among the compiled patterns) of the last pattern matching `path`, when that
    /// pattern is a positive one; `None` when nothing matched or a negation matched last.
    pub fn last_match(&self, path: &str) -> Option<usize> {
        let i = self.patterns.iter().rposition(|p| matches_self_or_parent(&p.matcher, path))?;
        (!self.patterns[i].negated).then_some(i)
    }

    /// Whether any pattern is a negation (`!keep`): a matched folder may then hold kept files.
    pub fn has_negation(&self) -> bool {
        self.patterns.iter().any(|p| p.negated)
    }

    pub fn includes(&self, path: &str) -> bool {
        matches!(self.verdict(path), Verdict::Included(_))
    }
}

fn matches_self_or_parent(m: &GlobMatcher, path: &str) -> bool {
    if m.is_match(path) {
        return true;
    }
    let mut end = path.len();
    while let Some(i) = path[..end].rfind('/') {
        if m.is_match(&path[..i]) {
            return true;
        }
        end = i;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_table() {
        let seed = ["**/Pages/**", "**/Views/**", "**/wwwroot/**", "!**/*.{sln,csproj}"];
        let only_neg = ["!**/package.json"];
        let dockerish = ["node_modules", "*.md", "!README.md"];
        let cases: &[(&[&str], Anchoring, &str, Verdict)] = &[
            (&seed, Anchoring::Floating, "Pages/Index.cshtml", Verdict::Included("**/Pages/**")),
            (&seed, Anchoring::Floating, "src/Views/Home/a.cshtml", Verdict::Included("**/Views/**")),
            (&seed, Anchoring::Floating, "Pages/app.csproj", Verdict::Excluded("!**/*.{sln,csproj}")),
            (&seed, Anchoring::Floating, "Program.cs", Verdict::Unmatched),
            (&only_neg, Anchoring::Floating, "src/index.js", Verdict::Included("**")),
            (&only_neg, Anchoring::Floating, "package.json", Verdict::Excluded("!**/package.json")),
            (&["*.py"], Anchoring::Floating, "pkg/mod.py", Verdict::Included("*.py")),
            (&["static"], Anchoring::Floating, "static/css/a.css", Verdict::Included("static")),
            (&["/app.py"], Anchoring::Floating, "sub/app.py", Verdict::Unmatched),
            (&dockerish, Anchoring::Rooted, "node_modules/x/index.js", Verdict::Included("node_modules")),
            (&dockerish, Anchoring::Rooted, "sub/node_modules/x.js", Verdict::Unmatched),
            (&dockerish, Anchoring::Rooted, "CHANGES.md", Verdict::Included("*.md")),
            (&dockerish, Anchoring::Rooted, "README.md", Verdict::Excluded("!README.md")),
            (&dockerish, Anchoring::Rooted, "docs/a.md", Verdict::Unmatched),
            (&["!README.md"], Anchoring::Rooted, "CHANGES.md", Verdict::Unmatched),
        ];
        for (patterns, anchoring, path, want) in cases {
            let list = PatternList::new(patterns, *anchoring).expect("patterns compile");
            assert_eq!(&list.verdict(path), want, "{patterns:?} on {path}");
        }
    }

    #[test]
    fn bad_glob_is_reported_with_reason() {
        let err = PatternList::new(&["ok/**", "**/*.{py"], Anchoring::Floating).expect_err("bad glob");
        assert_eq!(err.index, 1);
        assert_eq!(err.pattern, "**/*.{py");
        assert_eq!(err.reason, "unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)");
    }
}
