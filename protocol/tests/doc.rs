//! Ties docs/protocol.md to the protocol sources: a recorded hash, the method names and the goldens.

use std::path::{Path, PathBuf};

use devspaces_protocol::editor::{codes, NOTIFICATIONS, REQUESTS};
use serde_json::Value;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn doc() -> String {
    let path = crate_dir().join("../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// BLAKE3 over `editor.rs` and `editor/*.rs`, sorted by relative path: `path \0 text \0` each.
fn protocol_hash() -> String {
    let src = crate_dir().join("src");
    let mut files: Vec<(String, PathBuf)> = vec![("editor.rs".into(), src.join("editor.rs"))];
    for entry in std::fs::read_dir(src.join("editor")).expect("src/editor exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            files.push((format!("editor/{name}"), path));
        }
    }
    files.sort();
    let mut hasher = blake3::Hasher::new();
    for (rel, path) in files {
        let text = std::fs::read_to_string(&path).expect("source readable").replace("\r\n", "\n");
        hasher.update(rel.as_bytes());
        hasher.update(b"\0");
        hasher.update(text.as_bytes());
        hasher.update(b"\0");
    }
    hasher.finalize().to_hex().to_string()
}

#[test]
fn protocol_doc_hash_is_current() {
    let doc = doc();
    let recorded = doc
        .lines()
        .find_map(|l| l.trim().strip_prefix("<!-- protocol-hash: ")?.strip_suffix(" -->"))
        .map(str::to_string);
    let actual = protocol_hash();
    assert_eq!(
        recorded.as_deref(),
        Some(actual.as_str()),
        "\nprotocol/src/editor.rs or protocol/src/editor/*.rs changed since docs/protocol.md was last \
         updated.\nDocument the change in docs/protocol.md (and its golden files), then set the line at \
         its top to:\n<!-- protocol-hash: {actual} -->\n"
    );
}

#[test]
fn protocol_doc_names_every_method_and_code() {
    let doc = doc();
    for method in REQUESTS.iter().chain(NOTIFICATIONS) {
        assert!(doc.contains(&format!("### {method}")), "docs/protocol.md has no section '### {method}'");
    }
    for code in [
        codes::PARSE_ERROR,
        codes::INVALID_REQUEST,
        codes::METHOD_NOT_FOUND,
        codes::INVALID_PARAMS,
        codes::INTERNAL_ERROR,
        codes::SERVER_NOT_INITIALIZED,
        codes::REQUEST_CANCELLED,
        codes::UNKNOWN_SESSION,
        codes::NOT_A_SERVICE,
        codes::INVALID_CONFIG,
        codes::BACKEND_UNAVAILABLE,
        codes::AMBIGUOUS_SESSION,
        codes::SESSION_EXISTS,
    ] {
        assert!(doc.contains(&format!("| {code} |")), "docs/protocol.md's error table lacks {code}");
    }
}

fn json_blocks(doc: &str) -> Vec<(usize, Value)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some((i + 1, String::new())),
            (Some((start, text)), "```") => {
                let value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("docs/protocol.md:{start}: json example does not parse: {e}"));
                blocks.push((*start, value));
                current = None;
            }
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    haystack == needle
        || match haystack {
            Value::Object(m) => m.values().any(|v| contains(v, needle)),
            Value::Array(a) => a.iter().any(|v| contains(v, needle)),
            _ => false,
        }
}

/// Every golden file except the enum variant lists must appear verbatim in an example.
#[test]
fn protocol_doc_examples_match_the_goldens() {
    let blocks = json_blocks(&doc());
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(crate_dir().join("tests/golden")).expect("tests/golden exists") {
        let path = entry.expect("dir entry").path();
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("golden readable")).expect("golden parses");
        let enum_list = matches!(&golden, Value::Array(a) if a.iter().all(|v| !v.is_object()));
        if !enum_list && !blocks.iter().any(|(_, b)| contains(b, &golden)) {
            missing.push(path.file_name().expect("name").to_string_lossy().into_owned());
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "docs/protocol.md has no example equal to these golden files: {missing:?}");
}
