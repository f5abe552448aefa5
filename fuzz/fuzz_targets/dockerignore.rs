//! The `.dockerignore` (and `.gitignore`) rules on arbitrary text, then classifying paths with
//! them: an error for a bad pattern, never a panic. Input: the ignore file, a NUL, then paths.
#![no_main]

use std::sync::OnceLock;

use devspacesd::classify::{IgnoreFiles, Rules};
use devspacesd::config::{self, Config, EnvSource};
use libfuzzer_sys::fuzz_target;

/// A minimal service, loaded once (written under fuzz/target/, the same for every run).
fn service() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let svc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dockerignore-service");
        std::fs::create_dir_all(&svc).expect("mkdir");
        std::fs::write(svc.join("Dockerfile"), "FROM scratch\nWORKDIR /app\nCOPY . .\nCMD [\"app\"]\n").expect("write");
        std::fs::write(
            svc.join("azds.yaml"),
            concat!(
                "kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\n",
                "configurations:\n  develop:\n    container:\n      sync:\n      - \"**/*\"\n      - \"!**/*.md\"\n",
                "      command: [app]\n",
            ),
        )
        .expect("write");
        let env = EnvSource { process: Default::default(), dotenv: Default::default() };
        config::load_with_env(&svc, &env).expect("the fuzz service's azds.yaml loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (ignore, paths) = text.split_once('\0').unwrap_or((text, "app.py\nstatic/a.css\nnode_modules/x/y.js"));
    let files =
        IgnoreFiles {
            dockerignore: Some(ignore.to_string()),
            dockerignore_file: None,
            gitignores: vec![(String::new(), ignore.to_string())],
        };
    let Ok(rules) = Rules::new(service(), &files) else { return };
    for path in paths.split('\n') {
        let _ = rules.classify(path);
        let _ = rules.skips_folder(path);
        let _ = rules.in_image(path);
    }
});
