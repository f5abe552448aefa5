//! The session placeholders `$(tag)`, `$(spacePrefix)`, `$(rootSpacePrefix)` and `$(hostSuffix)`.

pub const KNOWN: &[&str] = &["tag", "spacePrefix", "rootSpacePrefix", "hostSuffix"];

/// The values a session fills in, each carrying the trailing or leading dot the seed expects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placeholders {
    pub tag: String,
    pub space_prefix: String,
    pub root_space_prefix: String,
    pub host_suffix: String,
}

impl Placeholders {
    /// For `space` (`child` or `parent/child`), a session tag and a host suffix (leading dot).
    pub fn for_space(space: &str, tag: &str, host_suffix: &str) -> Self {
        let (space_prefix, root) = match space.split_once('/') {
            Some((parent, child)) => (format!("{child}.s."), format!("{parent}.")),
            None => (String::new(), format!("{space}.")),
        };
        Placeholders { tag: tag.into(), space_prefix, root_space_prefix: root, host_suffix: host_suffix.into() }
    }

    pub fn render(&self, s: &str) -> String {
        s.replace("$(tag)", &self.tag)
            .replace("$(spacePrefix)", &self.space_prefix)
            .replace("$(rootSpacePrefix)", &self.root_space_prefix)
            .replace("$(hostSuffix)", &self.host_suffix)
    }

    pub fn render_json(&self, v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            J::String(s) => J::String(self.render(s)),
            J::Array(a) => J::Array(a.iter().map(|x| self.render_json(x)).collect()),
            J::Object(o) => J::Object(o.iter().map(|(k, x)| (k.clone(), self.render_json(x))).collect()),
            other => other.clone(),
        }
    }
}

/// Names of `$(...)` placeholders in `s` that are not known.
pub fn unknown(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        let name = &after[..end];
        if !KNOWN.contains(&name) {
            out.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_host_template_renders_as_documented() {
        let t = "$(spacePrefix)$(rootSpacePrefix)webfrontend$(hostSuffix)";
        let cases = [
            ("default", "default.webfrontend.devspaces.localhost"),
            ("default/azureuser", "azureuser.s.default.webfrontend.devspaces.localhost"),
        ];
        for (space, want) in cases {
            let p = Placeholders::for_space(space, "s1-1", ".devspaces.localhost");
            assert_eq!(p.render(t), want);
        }
        assert_eq!(unknown("$(tag)-$(tga)"), vec!["tga".to_string()]);
    }
}
