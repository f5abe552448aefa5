//! A small owned YAML tree with source positions, read through saphyr's marked loader.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// A position in a source file: 1-based line, 1-based column (as editors and compilers print them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A source range, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub start: Pos,
    pub end: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own ranges so unknown keys can be pointed at.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub range: Range,
    pub value: Value,
}

/// A YAML syntax error with the position the scanner stopped at.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses the first document of `text`; an empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let docs = load(text)?;
    Ok(docs.into_iter().next().map(convert).unwrap_or(Node { range: Range::default(), value: Value::Null }))
}

/// Parses every non-empty document of a multi-document stream (Helm's rendered manifests),
/// strictly: an alias that does not resolve or a key that is not a scalar is an error.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut out = Vec::new();
    for d in load(text)? {
        let n = convert_checked(d, true)?;
        if n.value != Value::Null {
            out.push(n);
        }
    }
    Ok(out)
}

fn load(text: &str) -> Result<Vec<MarkedYaml<'_>>, SyntaxError> {
    MarkedYaml::load_from_str(text).map_err(|e| {
        let pos = Pos { line: e.marker().line(), col: e.marker().col() + 1 };
        // The scanner notices an unclosed flow list only at the next key; point at the opener instead.
        match unclosed_flow(text, pos.line) {
            Some((open, c)) => SyntaxError {
                pos: open,
                message: format!(
                    "unclosed '{c}' (no matching '{}' for the {} opened here)",
                    if c == '[' { ']' } else { '}' },
                    if c == '[' { "list" } else { "mapping" }
                ),
            },
            None => SyntaxError { pos, message: e.info().to_string() },
        }
    })
}

/// The position of a `[` or `{` opened before `before_line` and never closed there (quotes and comments skipped).
fn unclosed_flow(text: &str, before_line: usize) -> Option<(Pos, char)> {
    let mut stack: Vec<(Pos, char)> = Vec::new();
    for (i, line) in text.lines().enumerate().take(before_line.saturating_sub(1)) {
        let mut quote: Option<char> = None;
        for (j, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#')
                    if j == 0 || line[..line.char_indices().nth(j).map(|(b, _)| b).unwrap_or(0)].ends_with(' ') =>
                {
                    break
                }
                (None, '[' | '{') => stack.push((Pos { line: i + 1, col: j + 1 }, c)),
                (None, ']' | '}') => {
                    stack.pop();
                }
                _ => {}
            }
        }
    }
    stack.first().copied()
}

fn convert(node: MarkedYaml<'_>) -> Node {
    // Lenient: what cannot be a value (an alias, a bad value) reads as null.
    convert_checked(node, false).unwrap_or(Node { range: Range::default(), value: Value::Null })
}

/// `strict`: an alias that did not resolve, a bad value or a key that is a list or mapping is an
/// error at its position instead of a null.
fn convert_checked(node: MarkedYaml<'_>, strict: bool) -> Result<Node, SyntaxError> {
    let range = Range {
        start: Pos { line: node.span.start.line(), col: node.span.start.col() + 1 },
        end: Pos { line: node.span.end.line(), col: node.span.end.col() + 1 },
    };
    let refuse = |what: &str| SyntaxError { pos: range.start, message: what.to_string() };
    let value = match node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, _, _) => Value::Str(text.into_owned()),
        YamlData::Sequence(items) => {
            Value::Seq(items.into_iter().map(|n| convert_checked(n, strict)).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = convert_checked(k, strict)?;
                if strict && matches!(key.value, Value::Seq(_) | Value::Map(_)) {
                    return Err(refuse("a mapping key is itself a mapping or list"));
                }
                entries.push((key, convert_checked(v, strict)?));
            }
            Value::Map(entries)
        }
        YamlData::Tagged(_, inner) => return Ok(Node { range, ..convert_checked(*inner, strict)? }),
        YamlData::Alias(_) if strict => return Err(refuse("an alias (*name) that does not resolve")),
        YamlData::BadValue if strict => return Err(refuse("a value that is not valid YAML")),
        YamlData::Alias(_) | YamlData::BadValue => Value::Null,
    };
    Ok(Node { range, value })
}

fn scalar(s: Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(b),
        Scalar::Integer(i) => Value::Int(i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::Str(s.into_owned()),
    }
}

impl Node {
    /// A node made in code (no source position).
    pub fn plain(value: Value) -> Node {
        Node { range: Range::default(), value }
    }

    pub fn string(text: &str) -> Node {
        Node::plain(Value::Str(text.to_string()))
    }

    /// The same tree with every position cleared, to compare trees read from different texts.
    pub fn without_ranges(&self) -> Node {
        let value = match &self.value {
            Value::Seq(items) => Value::Seq(items.iter().map(Node::without_ranges).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.without_ranges(), v.without_ranges())).collect()),
            other => other.clone(),
        };
        Node::plain(value)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn key_is(k: &Node, key: &str) -> bool {
        k.as_text().is_some_and(|t| t == key)
    }

    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| Node::key_is(k, key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(m) => m.iter_mut().find(|(k, _)| Node::key_is(k, key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The mapping at `key`, created (or replacing a null) when absent; `None` when it is
    /// something else, or `self` is not a mapping.
    pub fn entry_map(&mut self, key: &str) -> Option<&mut Node> {
        let Value::Map(m) = &mut self.value else { return None };
        match m.iter().position(|(k, _)| Node::key_is(k, key)) {
            Some(i) if m[i].1.value == Value::Null => m[i].1 = Node::plain(Value::Map(Vec::new())),
            Some(_) => {}
            None => m.push((Node::string(key), Node::plain(Value::Map(Vec::new())))),
        }
        m.iter_mut().find(|(k, _)| Node::key_is(k, key)).map(|(_, v)| v).filter(|v| matches!(v.value, Value::Map(_)))
    }

    /// Sets `key` of a mapping, keeping its place when it exists.
    pub fn set(&mut self, key: &str, value: Node) {
        if let Value::Map(m) = &mut self.value {
            match m.iter_mut().find(|(k, _)| Node::key_is(k, key)) {
                Some((_, v)) => *v = value,
                None => m.push((Node::string(key), value)),
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let Value::Map(m) = &mut self.value else { return None };
        let i = m.iter().position(|(k, _)| Node::key_is(k, key))?;
        Some(m.remove(i).1)
    }

    /// A list of scalars as text.
    pub fn strings(&self) -> Option<Vec<String>> {
        match &self.value {
            Value::Seq(s) => s.iter().map(Node::as_text).collect(),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar as text, for keys and for string-typed settings that YAML read as numbers.
    pub fn as_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Converts to JSON for Helm values; strings are passed through `map_str` (placeholder expansion).
    pub fn to_json(&self, map_str: &mut dyn FnMut(&str, Range) -> String) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Str(s) => J::String(map_str(s, self.range)),
            Value::Seq(items) => J::Array(items.iter().map(|n| n.to_json(map_str)).collect()),
            Value::Map(entries) => {
                J::Object(entries.iter().map(|(k, v)| (k.as_text().unwrap_or_default(), v.to_json(map_str))).collect())
            }
        }
    }
}

/// Writes documents as block YAML, each preceded by `---`, every string double-quoted (so Go's
/// YAML 1.1 reader never turns `y` or `on` into a boolean); key order is kept, comments are not.
pub fn emit_documents(docs: &[Node]) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        emit(d, 0, &mut out);
    }
    out
}

fn emit(n: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match &n.value {
        Value::Map(m) if !m.is_empty() => {
            for (k, v) in m {
                out.push_str(&pad);
                out.push_str(&key_text(&k.as_text().unwrap_or_else(|| "null".into())));
                out.push(':');
                emit_child(v, indent, out);
            }
        }
        Value::Seq(v) if !v.is_empty() => {
            for item in v {
                out.push_str(&pad);
                out.push('-');
                match &item.value {
                    Value::Map(m) if !m.is_empty() => {
                        // `- key: value` with the rest of the mapping aligned under the first key.
                        let mut first = String::new();
                        emit(item, indent + 2, &mut first);
                        out.push(' ');
                        out.push_str(&first[indent + 2..]);
                    }
                    Value::Seq(s) if !s.is_empty() => {
                        out.push('\n');
                        emit(item, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar_yaml(&item.value));
                        out.push('\n');
                    }
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&scalar_yaml(scalar));
            out.push('\n');
        }
    }
}

fn emit_child(v: &Node, indent: usize, out: &mut String) {
    match &v.value {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        Value::Seq(s) if !s.is_empty() => {
            out.push('\n');
            emit(v, indent, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_yaml(scalar));
            out.push('\n');
        }
    }
}

fn scalar_yaml(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => {
            let t = f.to_string();
            if t.contains('.') || t.contains('e') {
                t
            } else {
                format!("{t}.0")
            }
        }
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) => (if *f > 0.0 { ".inf" } else { "-.inf" }).into(),
        Value::Str(t) => quote(t),
        Value::Map(_) => "{}".into(),
        Value::Seq(_) => "[]".into(),
    }
}

/// A JSON string is a valid YAML double-quoted scalar.
fn quote(t: &str) -> String {
    serde_json::to_string(t).unwrap_or_else(|_| "\"\"".into())
}

fn key_text(k: &str) -> String {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"];
    let plain = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !WORDS.contains(&k.to_ascii_lowercase().as_str());
    if plain {
        k.to_string()
    } else {
        quote(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a: 1\nbb:\n  - x\n").expect("valid yaml");
        let Value::Map(m) = &n.value else { panic!("not a map") };
        assert_eq!(m[1].0.range.start, Pos { line: 2, col: 1 });
        let Value::Seq(s) = &m[1].1.value else { panic!("not a seq") };
        assert_eq!(s[0].range.start, Pos { line: 3, col: 5 });
    }

    #[test]
    fn the_emitter_round_trips_awkward_values() {
        let text = "a: 'y'\nb: \"on\"\n'yes': 1\nc: \"line1\\nline2\"\nd: []\ne: {}\nf: [[1, 2], {g: 1.5}]\nh: null\ni: '0123'\nj: ''\n";
        let docs = parse_documents(text).expect("valid");
        let out = emit_documents(&docs);
        let again: Vec<Node> = parse_documents(&out).expect("valid").iter().map(Node::without_ranges).collect();
        assert_eq!(again, docs.iter().map(Node::without_ranges).collect::<Vec<_>>(), "{out}");
        assert!(out.contains("a: \"y\"") && out.contains("\"yes\": 1"), "{out}");
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let docs = parse_documents("a: &x {b: 1}\nc: *x\n").expect("aliases resolve");
        assert_eq!(docs[0].get("c").and_then(|c| c.get("b")).and_then(Node::as_text), Some("1".into()));
    }

    #[test]
    fn strict_documents_refuse_what_lenient_reading_nulls() {
        assert!(parse_documents("? [a]\n: 1\n").is_err());
        assert_eq!(parse_documents("---\n---\na: 1\n").expect("valid").len(), 1);
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("a: [1, 2\nb: 3\n").expect_err("invalid yaml");
        assert!(e.pos.line >= 1, "{e:?}");
    }
}
