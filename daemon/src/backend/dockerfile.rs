//! Reads what the backends honour from a Dockerfile's last stage: WORKDIR, ENV, EXPOSE, CMD.

use std::collections::BTreeMap;

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    /// Absolute container path; `/` when the Dockerfile sets none.
    pub workdir: String,
    pub env: BTreeMap<String, String>,
    pub expose: Vec<u16>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// Where the last `COPY . <dest>` (or `ADD . <dest>`) put the build context, absolute; the
    /// Visual Studio layout copies at `/src` and then moves WORKDIR into the project folder.
    pub context_dir: Option<String>,
    /// The `RUN` steps of the last stage: the line each starts on, and its command. The local
    /// backend does not run them; the container and Kubernetes backends build them.
    pub run: Vec<(usize, String)>,
}

impl Image {
    /// ENTRYPOINT followed by CMD, as a container runtime starts them.
    pub fn command(&self) -> Vec<String> {
        let mut c = self.entrypoint.clone();
        c.extend(self.cmd.iter().cloned());
        c
    }
}

/// Instructions with continuations joined, each with the 1-based line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if cur.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        if cur.is_empty() {
            start = i + 1;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            cur.push_str(stripped);
            cur.push(' ');
        } else {
            cur.push_str(line);
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            if let Some(end) = body.find('}') {
                let inner = &body[..end];
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n, d),
                    None => (inner, ""),
                };
                out.push_str(vars.get(name).filter(|v| !v.is_empty()).map(String::as_str).unwrap_or(default));
                rest = &body[end + 1..];
                continue;
            }
        }
        let name_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if name_len == 0 {
            out.push('$');
            rest = after;
        } else {
            out.push_str(vars.get(&after[..name_len]).map(String::as_str).unwrap_or(""));
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    out
}

/// Exec form `["a", "b"]` or shell form, which runs under `/bin/sh -c` as Docker does.
fn command_form(arg: &str) -> Vec<String> {
    let t = arg.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), t.to_string()]
}

fn split_pairs(arg: &str) -> Vec<(String, String)> {
    // `ENV A=1 B="two words"` or the legacy `ENV A 1`.
    if !arg.contains('=') || arg.split_whitespace().next().is_some_and(|w| !w.contains('=')) {
        let mut it = arg.trim().splitn(2, char::is_whitespace);
        let k = it.next().unwrap_or_default().to_string();
        let v = it.next().unwrap_or_default().trim().to_string();
        return vec![(k, v)];
    }
    let mut out = Vec::new();
    let mut chars = arg.trim().chars().peekable();
    while chars.peek().is_some() {
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let mut val = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, c) => val.push(c),
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        out.push((key.trim().to_string(), val));
    }
    out
}

/// The destination of a `COPY`/`ADD` whose sources include the build context itself (`.`),
/// resolved against `workdir`; `None` for other copies and for `--from` (another stage).
fn context_copy(arg: &str, workdir: &str) -> Option<String> {
    let t = arg.trim();
    let words: Vec<String> = if t.starts_with('[') {
        serde_json::from_str::<Vec<String>>(t).ok()?
    } else {
        t.split_whitespace().map(String::from).collect()
    };
    if words.iter().any(|w| w.starts_with("--from")) {
        return None;
    }
    let words: Vec<&String> = words.iter().filter(|w| !w.starts_with("--")).collect();
    let (dest, sources) = words.split_last()?;
    if !sources.iter().any(|s| matches!(s.as_str(), "." | "./")) {
        return None;
    }
    let trimmed = dest.trim_end_matches('/');
    Some(if dest.starts_with('/') {
        if trimmed.is_empty() {
            "/".into()
        } else {
            trimmed.to_string()
        }
    } else if matches!(trimmed, "" | ".") {
        workdir.to_string()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), trimmed.trim_start_matches("./"))
    })
}

/// Parses the last stage; `build_args` fill `ARG`s as `docker build --build-arg` would.
pub fn parse(text: &str, build_args: &BTreeMap<String, String>) -> Image {
    let mut img = Image { workdir: "/".into(), ..Image::default() };
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (number, line) in logical_lines(text) {
        let line = line.trim();
        let (instr, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        match instr.to_ascii_uppercase().as_str() {
            "FROM" => {
                img = Image { workdir: "/".into(), ..Image::default() };
                vars.retain(|k, _| build_args.contains_key(k));
            }
            "ARG" => {
                let (k, default) =
                    arg.split_once('=').map(|(k, d)| (k.trim(), d.trim().trim_matches('"'))).unwrap_or((arg, ""));
                let v = build_args.get(k).cloned().unwrap_or_else(|| substitute(default, &vars));
                vars.insert(k.to_string(), v);
            }
            "ENV" => {
                for (k, v) in split_pairs(arg) {
                    let v = substitute(&v, &vars);
                    vars.insert(k.clone(), v.clone());
                    img.env.insert(k, v);
                }
            }
            "WORKDIR" => {
                // `WORKDIR "/src/web"` (Visual Studio writes the quotes) is `/src/web`.
                let w = substitute(arg.trim_matches('"'), &vars);
                img.workdir =
                    if w.starts_with('/') { w } else { format!("{}/{}", img.workdir.trim_end_matches('/'), w) };
            }
            "EXPOSE" => {
                for p in arg.split_whitespace() {
                    let p = substitute(p, &vars);
                    if let Ok(n) = p.split('/').next().unwrap_or_default().parse() {
                        img.expose.push(n);
                    }
                }
            }
            "COPY" | "ADD" => {
                if let Some(dir) = context_copy(&substitute(arg, &vars), &img.workdir) {
                    img.context_dir = Some(dir);
                }
            }
            "RUN" => img.run.push((number, arg.split_whitespace().collect::<Vec<_>>().join(" "))),
            "CMD" => img.cmd = command_form(arg),
            "ENTRYPOINT" => {
                img.entrypoint = command_form(arg);
                img.cmd.clear();
            }
            _ => {}
        }
    }
    img
}

/// The image as the develop Dockerfile describes it (WORKDIR, ENV, EXPOSE, CMD); workdir `/` when
/// there is none or it cannot be read.
pub fn develop_image(config: &Config) -> Image {
    let Some(df) = config.develop_dockerfile() else { return Image { workdir: "/".into(), ..Image::default() } };
    match std::fs::read_to_string(config.service_dir.join(df)) {
        Ok(text) => parse(&text, &config.develop.build.args),
        Err(_) => Image { workdir: "/".into(), ..Image::default() },
    }
}

/// What an app that died said is missing: a module (Node.js, Python) or a command.
#[derive(Debug, Clone, PartialEq)]
enum Missing {
    NodeModule(String),
    PythonModule(String),
    Command(String),
}

fn quoted_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let q = rest.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let rest = &rest[1..];
    Some(&rest[..rest.find(q)?])
}

fn missing(lines: &[String]) -> Option<Missing> {
    for l in lines.iter().rev() {
        if let Some(m) = quoted_after(l, "Cannot find module ") {
            return Some(Missing::NodeModule(m.to_string()));
        }
        if let Some(m) = quoted_after(l, "No module named ") {
            return Some(Missing::PythonModule(m.to_string()));
        }
        if let Some(c) = quoted_after(l, "exec: ") {
            if l.contains("executable file not found") {
                return Some(Missing::Command(c.to_string()));
            }
        }
        // `sh: 1: dotnet: not found`, `bash: dotnet: command not found`
        let t = l.trim();
        if let Some(head) = t.strip_suffix(": not found").or_else(|| t.strip_suffix(": command not found")) {
            if let Some(cmd) = head.rsplit(": ").next().filter(|c| !c.is_empty() && !c.contains(' ')) {
                return Some(Missing::Command(cmd.to_string()));
            }
        }
    }
    None
}

/// When an app on the local backend died for something missing that a `RUN` step of its develop
/// Dockerfile installs (a module, a command), names that step and the way to have it run.
pub fn missing_from_run_steps(last_lines: &[String], dockerfile: &str, run: &[(usize, String)]) -> Option<String> {
    if run.is_empty() {
        return None;
    }
    let what = missing(last_lines)?;
    let installs = |words: &[&str]| run.iter().find(|(_, c)| words.iter().any(|w| c.contains(w)));
    let (thing, step) = match &what {
        Missing::NodeModule(m) => {
            (format!("module '{m}'"), installs(&["npm install", "npm ci", "npm i ", "yarn", "pnpm install"]))
        }
        Missing::PythonModule(m) => {
            (format!("module '{m}'"), installs(&["pip install", "pip3 install", "poetry install"]))
        }
        Missing::Command(c) => (format!("command '{c}'"), run.iter().find(|(_, cmd)| cmd.contains(c.as_str()))),
    };
    // Nothing names it: the last RUN step is the best guess only for a command an image provides.
    let step = step.or(match what {
        Missing::Command(_) => run.last(),
        _ => None,
    })?;
    Some(format!(
        "likely cause: the {thing} is missing: {dockerfile}:{} `RUN {}` would have provided it, and the local backend does not run RUN steps; run with --backend container (a Docker or Podman engine) or --backend kubernetes",
        step.0, step.1
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn last_stage_is_read() {
        let text = "# comment\nFROM golang AS build\nWORKDIR /src\nEXPOSE 1\n\nFROM python:3.12-slim\nARG APP_ENV=development\nENV APP_ENV=${APP_ENV} \\\n    PORT=8080\nENV LEGACY some value\nWORKDIR /app\nWORKDIR sub\nEXPOSE 8080/tcp 9090\nCMD [\"python3\", \"app.py\"]\n";
        let args = BTreeMap::from([("APP_ENV".to_string(), "test".to_string())]);
        let img = parse(text, &args);
        assert_eq!(img.workdir, "/app/sub");
        assert_eq!(img.expose, vec![8080, 9090]);
        assert_eq!(img.env.get("APP_ENV").map(String::as_str), Some("test"));
        assert_eq!(img.env.get("PORT").map(String::as_str), Some("8080"));
        assert_eq!(img.env.get("LEGACY").map(String::as_str), Some("some value"));
        assert_eq!(img.command(), vec!["python3", "app.py"]);
        assert_eq!(img.context_dir, None, "no COPY of the context");
        assert!(img.run.is_empty());
        let node = "FROM node\nWORKDIR /app\nCOPY package*.json ./\n# deps\nRUN npm install \\\n    --omit=dev\nCOPY . .\nRUN echo done > /x\n";
        let img = parse(node, &BTreeMap::new());
        assert_eq!(img.run, vec![(5, "npm install --omit=dev".to_string()), (8, "echo done > /x".to_string())]);
        let shell = parse("FROM x\nENTRYPOINT node server.js\n", &BTreeMap::new());
        assert_eq!(shell.command(), vec!["/bin/sh", "-c", "node server.js"]);
    }

    #[test]
    fn where_the_context_is_copied() {
        let cases = [
            ("FROM x\nWORKDIR /app\nCOPY . .\n", Some("/app")),
            ("FROM x\nWORKDIR /app\nCOPY package*.json ./\nCOPY . .\n", Some("/app")),
            // The Visual Studio layout: the solution is copied at /src, WORKDIR moves into the project.
            (
                "FROM x\nWORKDIR /src\nCOPY [\"web/web.csproj\", \"web/\"]\nCOPY . .\nWORKDIR \"/src/web\"\n",
                Some("/src"),
            ),
            ("FROM x\nCOPY --chown=app:app . /srv/site/\nWORKDIR /srv\n", Some("/srv/site")),
            ("FROM x\nWORKDIR /a\nADD . sub\n", Some("/a/sub")),
            ("FROM x\nCOPY . /\n", Some("/")),
            ("FROM b AS build\nCOPY . .\nFROM x\nCOPY --from=build /out /app\n", None),
            ("FROM x\nCOPY app.py /app/\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, &BTreeMap::new()).context_dir.as_deref(), want, "{text}");
        }
        assert_eq!(parse(cases[2].0, &BTreeMap::new()).workdir, "/src/web", "quotes are not part of WORKDIR");
    }

    #[test]
    fn a_missing_module_or_command_names_the_run_step_that_installs_it() {
        let run = vec![
            (5, "npm install".to_string()),
            (7, "pip install -r requirements.txt".to_string()),
            (9, "apt-get install -y ffmpeg".to_string()),
        ];
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        let node = lines("node:internal/modules/cjs/loader:1143\nError: Cannot find module 'morgan'\nRequire stack:\n- /app/server.js");
        let got = missing_from_run_steps(&node, "Dockerfile.develop", &run).unwrap();
        assert!(got.starts_with("likely cause: the module 'morgan' is missing: Dockerfile.develop:5 `RUN npm install` would have provided it"), "{got}");
        let py = lines("Traceback (most recent call last):\nModuleNotFoundError: No module named 'flask'");
        assert!(missing_from_run_steps(&py, "Dockerfile", &run)
            .unwrap()
            .contains("module 'flask' is missing: Dockerfile:7 `RUN pip install"));
        let sh = lines("/bin/sh: 1: ffmpeg: not found");
        assert!(missing_from_run_steps(&sh, "Dockerfile", &run)
            .unwrap()
            .contains("command 'ffmpeg' is missing: Dockerfile:9"));
        let exec = lines("exec: \"dotnet\": executable file not found in $PATH");
        assert!(missing_from_run_steps(&exec, "Dockerfile", &run)
            .unwrap()
            .contains("command 'dotnet' is missing: Dockerfile:9"));
        // No RUN step, or a crash of another kind: nothing is claimed.
        assert_eq!(missing_from_run_steps(&node, "Dockerfile", &[]), None);
        assert_eq!(missing_from_run_steps(&lines("TypeError: x is not a function"), "Dockerfile", &run), None);
        // A Python module with no pip step: no guess.
        assert_eq!(missing_from_run_steps(&py, "Dockerfile", &run[..1]), None);
    }
}
