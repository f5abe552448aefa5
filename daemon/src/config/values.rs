//! Helm values precedence: chart values.yaml < install.values < container.values < install.set < configuration set.

use std::path::Path;

use super::Config;
use crate::config::yaml;

/// Deep-merges `over` into `base`: mappings merge key by key, anything else replaces.
pub fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn read_values(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read values file {}: {e}", path.display()))?;
    let node = yaml::parse(&text)
        .map_err(|e| format!("{}:{}:{}: invalid yaml: {}", path.display(), e.pos.line, e.pos.col, e.message))?;
    Ok(node.to_json(&mut |s, _| s.to_string()))
}

/// The merged values in precedence order; placeholders are left for the session to render.
pub fn merged(config: &Config) -> Result<serde_json::Value, String> {
    let dir = &config.service_dir;
    let mut out = serde_json::json!({});
    if let Some(chart) = &config.install.chart {
        let p = dir.join(&chart.value).join("values.yaml");
        if p.is_file() {
            merge(&mut out, &read_values(&p)?);
        }
    }
    for v in config.install.values.iter().chain(&config.develop.container.values) {
        let p = dir.join(&v.path);
        if p.is_file() {
            merge(&mut out, &read_values(&p)?);
        }
    }
    merge(&mut out, &config.install.set);
    merge(&mut out, &config.develop.set);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_wins_and_maps_merge() {
        let mut base = json!({"image": {"repository": "web", "tag": "latest"}, "replicaCount": 2});
        merge(&mut base, &json!({"image": {"tag": "$(tag)"}, "replicaCount": 1}));
        assert_eq!(base, json!({"image": {"repository": "web", "tag": "$(tag)"}, "replicaCount": 1}));
    }
}
