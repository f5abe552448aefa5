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
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
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
    })?;
    Ok(docs.into_iter().next().map(convert).unwrap_or(Node { range: Range::default(), value: Value::Null }))
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
    let range = Range {
        start: Pos { line: node.span.start.line(), col: node.span.start.col() + 1 },
        end: Pos { line: node.span.end.line(), col: node.span.end.col() + 1 },
    };
    let value = match node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, _, _) => Value::Str(text.into_owned()),
        YamlData::Sequence(items) => Value::Seq(items.into_iter().map(convert).collect()),
        YamlData::Mapping(map) => Value::Map(map.into_iter().map(|(k, v)| (convert(k), convert(v))).collect()),
        YamlData::Tagged(_, inner) => return Node { range, ..convert(*inner) },
        YamlData::Alias(_) | YamlData::BadValue => Value::Null,
    };
    Node { range, value }
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
    fn syntax_error_has_position() {
        let e = parse("a: [1, 2\nb: 3\n").expect_err("invalid yaml");
        assert!(e.pos.line >= 1, "{e:?}");
    }
}
