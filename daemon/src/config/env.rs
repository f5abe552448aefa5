//! `${VAR}` and `${VAR:-default}` expansion from the environment and a `.env` file beside azds.yaml.

use std::collections::BTreeMap;

/// Where variables come from: the process environment wins over `.env`, as docker compose does.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    pub process: BTreeMap<String, String>,
    pub dotenv: BTreeMap<String, String>,
}

/// This process's environment; a name or value that is not UTF-8 is left out (`std::env::vars`
/// would panic on it).
pub fn process_vars() -> BTreeMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

impl EnvSource {
    pub fn from_process(dotenv_text: Option<&str>) -> Self {
        EnvSource { process: process_vars(), dotenv: dotenv_text.map(parse_dotenv).unwrap_or_default() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.process.get(name).or_else(|| self.dotenv.get(name)).map(String::as_str)
    }
}

/// Parses `KEY=value` lines; `#` comments, `export ` prefixes and matching quotes are accepted.
pub fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.insert(k.trim().to_string(), v.to_string());
    }
    out
}

/// The result of expanding one string: the text, the names of unset variables without a default,
/// and every name it referred to with whether it was set (in the environment or `.env`).
#[derive(Debug, PartialEq)]
pub struct Expanded {
    pub text: String,
    pub unset: Vec<String>,
    pub used: Vec<(String, bool)>,
}

/// Expands `${NAME}` and `${NAME:-default}`; `$(...)` placeholders and lone `$` are left alone.
pub fn expand(input: &str, env: &EnvSource) -> Expanded {
    let mut text = String::with_capacity(input.len());
    let mut unset = Vec::new();
    let mut used = Vec::new();
    let mut rest = input;
    while let Some(i) = rest.find("${") {
        text.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            text.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let body = &after[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        used.push((name.to_string(), env.get(name).is_some()));
        match (env.get(name).filter(|v| !v.is_empty() || default.is_none()), default) {
            (Some(v), _) => text.push_str(v),
            (None, Some(d)) => text.push_str(d),
            (None, None) => unset.push(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    Expanded { text, unset, used }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)], dot: &[(&str, &str)]) -> EnvSource {
        EnvSource {
            process: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            dotenv: dot.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn expansion_table() {
        let e = env(&[("A", "1"), ("EMPTY", "")], &[("A", "dot"), ("B", "2")]);
        let cases: &[(&str, &str, &[&str])] = &[
            ("${A}", "1", &[]),
            ("${B}", "2", &[]),
            ("x${C:-Debug}y", "xDebugy", &[]),
            ("${EMPTY:-d}", "d", &[]),
            ("${EMPTY}", "", &[]),
            ("${MISSING}", "", &["MISSING"]),
            ("$(tag) and $HOME", "$(tag) and $HOME", &[]),
            ("${unterminated", "${unterminated", &[]),
        ];
        for (input, want, unset) in cases {
            let got = expand(input, &e);
            assert_eq!(got.text, *want, "input {input}");
            assert_eq!(got.unset, unset.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "input {input}");
        }
    }

    #[test]
    fn expansion_names_the_variables_it_used() {
        let e = env(&[("A", "1"), ("EMPTY", "")], &[("B", "2")]);
        let got = expand("${A}-${B}-${C:-x}-${EMPTY:-d}-${D}-$(tag)-$HOME", &e);
        let want = [("A", true), ("B", true), ("C", false), ("EMPTY", true), ("D", false)];
        assert_eq!(got.used, want.iter().map(|(n, s)| (n.to_string(), *s)).collect::<Vec<_>>());
    }

    #[test]
    fn dotenv_lines() {
        let m = parse_dotenv("# c\nexport A=1\nB = \"two words\"\nC='x'\nbad line\n");
        assert_eq!(m.get("A").map(String::as_str), Some("1"));
        assert_eq!(m.get("B").map(String::as_str), Some("two words"));
        assert_eq!(m.get("C").map(String::as_str), Some("x"));
        assert_eq!(m.len(), 3);
    }
}
