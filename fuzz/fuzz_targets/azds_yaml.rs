//! The azds.yaml loader (YAML parser, schema walk, `${VAR}` expansion, globs, placeholders) on
//! arbitrary text: diagnostics or a config, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A folder that does not exist: no `.env` is read beside it.
    let file = std::path::Path::new("/nonexistent/devspaces-fuzz/service/azds.yaml");
    let _ = devspacesd::config::diagnose(file, text);
});
