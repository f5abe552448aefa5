//! The debug plan, pure: how the app's command runs under its stack's debug server, on which port,
//! and which adapter editors attach with (`up --debug`, `devspaces/debug`).
//!
//! The input is the app's command as azds.yaml or the image gives it (container paths, before a
//! backend lays it out), `container.debug` from azds.yaml, where the server should listen, and what
//! the project says when the command does not (its stack, package.json's scripts).

use std::collections::BTreeMap;

use crate::config::{Debug, DebugAdapter};

/// What the plan needs.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The app's command: azds.yaml's `command`, else the image's ENTRYPOINT + CMD.
    pub command: &'a [String],
    /// azds.yaml's `container.debug`.
    pub debug: &'a Debug,
    /// The address the debug server listens on: `127.0.0.1` when the app runs on this machine,
    /// `0.0.0.0` in a container (its port is reached from outside the container).
    pub host: &'a str,
    /// The port chosen for this session when the app runs on this machine (a free loopback port,
    /// kept across restarts); `None`: the adapter's usual port. `debug.port` wins over both.
    pub port: Option<u16>,
    /// The stack the service's project files name (`prep`'s detection), for a command that says nothing.
    pub stack: Option<DebugAdapter>,
    /// package.json's `scripts`, for `npm start` and the like.
    pub scripts: &'a BTreeMap<String, String>,
}

/// The command to run, the port its debug server listens on and the adapter that speaks to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub command: Vec<String>,
    pub port: u16,
    pub adapter: DebugAdapter,
}

/// Where to say how to debug a command devspaces cannot start under a debugger itself.
const KEY: &str = "configurations.develop.container.debug";

/// The plan for `r`, or an error that says what to add to azds.yaml.
pub fn plan(r: &Request<'_>) -> Result<Plan, String> {
    if !r.debug.command.is_empty() {
        // Run as written: it starts its own debug server.
        let adapter = r.debug.adapter.or_else(|| adapter_of(&r.debug.command)).or(r.stack).ok_or_else(|| {
            format!(
                "cannot tell which debugger '{}' starts: set {KEY}.adapter (python, node, go, dotnet or java)",
                r.debug.command.join(" ")
            )
        })?;
        let port = r.debug.port.unwrap_or(adapter.usual_port());
        return Ok(Plan { command: r.debug.command.clone(), port, adapter });
    }
    if r.command.is_empty() {
        return Err(format!(
            "no command to debug: set configurations.develop.container.command (or a CMD in the develop Dockerfile), or {KEY}.command"
        ));
    }
    let adapter = r.debug.adapter.or_else(|| adapter_of(r.command)).or(r.stack).ok_or_else(|| {
        format!(
            "cannot tell how to debug '{}': add {KEY} with adapter (python, node, go, dotnet or java), or with command and port",
            r.command.join(" ")
        )
    })?;
    let port = r.debug.port.or(r.port).unwrap_or(adapter.usual_port());
    let (host, cmd) = (r.host, r.command);
    let command = match adapter {
        DebugAdapter::Python => python(cmd, host, port)?,
        DebugAdapter::Node => node(cmd, host, port, r.scripts)?,
        DebugAdapter::Go => go(cmd, host, port)?,
        DebugAdapter::Dotnet => dotnet(cmd, port)?,
        DebugAdapter::Java => java(cmd, host, port)?,
    };
    Ok(Plan { command, port, adapter })
}

/// The basename of a program (`/usr/bin/python3` -> `python3`).
fn base(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

fn is_python(p: &str) -> bool {
    let p = base(p);
    p.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_node(p: &str) -> bool {
    matches!(base(p), "node" | "nodejs")
}

fn is_shell(p: &str) -> bool {
    matches!(base(p), "sh" | "bash" | "dash" | "ash" | "zsh")
}

/// Python's command-line programs that are modules of the same name (`flask run` is `python -m flask run`).
const PYTHON_TOOLS: &[&str] = &["flask", "uvicorn", "gunicorn"];

/// A shell's `-c` script: `(shell, script)`.
fn shell_script(cmd: &[String]) -> Option<(&str, &str)> {
    match cmd {
        [sh, c, script, ..] if is_shell(sh) && c == "-c" => Some((sh.as_str(), script.as_str())),
        _ => None,
    }
}

/// The first program a script runs: after a leading `exec` and variable assignments.
fn script_program(script: &str) -> Option<(usize, &str)> {
    let mut at = 0;
    for word in script.split_whitespace() {
        let start = at + script[at..].find(word)?;
        at = start + word.len();
        if word == "exec" || (word.contains('=') && !word.starts_with('-') && !word.starts_with('=')) {
            continue;
        }
        return Some((start, word));
    }
    None
}

/// The adapter a command names by its program (or the program its shell script runs first).
fn adapter_of(cmd: &[String]) -> Option<DebugAdapter> {
    let program = match shell_script(cmd) {
        Some((_, script)) => script_program(script)?.1,
        None => cmd.first()?.as_str(),
    };
    let p = base(program);
    Some(match p {
        _ if is_python(p) || PYTHON_TOOLS.contains(&p) => DebugAdapter::Python,
        _ if is_node(p) => DebugAdapter::Node,
        "nodemon" | "npm" | "yarn" | "pnpm" => DebugAdapter::Node,
        "go" | "dlv" => DebugAdapter::Go,
        "dotnet" | "netcoredbg" => DebugAdapter::Dotnet,
        "java" | "mvn" | "mvnw" | "gradle" | "gradlew" => DebugAdapter::Java,
        _ => return None,
    })
}

/// Inserts `insert` into a shell script right after the first program it runs, if `accept`
/// agrees with that program and the word after it.
fn in_script(
    cmd: &[String],
    insert: &str,
    accept: impl Fn(&str, Option<&str>) -> Result<(), String>,
) -> Option<Result<Vec<String>, String>> {
    let (_, script) = shell_script(cmd)?;
    let (start, program) = script_program(script)?;
    let end = start + program.len();
    let next = script[end..].split_whitespace().next();
    Some(accept(program, next).map(|()| {
        let mut out = cmd.to_vec();
        out[2] = format!("{} {insert}{}", &script[..end], &script[end..]);
        out
    }))
}

fn unsupported(adapter: &str, cmd: &[String], why: &str) -> String {
    format!(
        "cannot start '{}' under the {adapter} debugger: {why}; set {KEY}.command to a command that starts it under its debug server (and {KEY}.port)",
        cmd.join(" ")
    )
}

/// `python [options] (script | -m module | -c code) args` ->
/// `python [options] -Xfrozen_modules=off -m debugpy --listen HOST:PORT (script | -m module | -c code) args`.
/// `flask`, `uvicorn` and `gunicorn` run as `python3 -m <tool>`.
fn python(cmd: &[String], host: &str, port: u16) -> Result<Vec<String>, String> {
    let listen = format!("{host}:{port}");
    // Without frozen modules debugpy can set breakpoints in the standard library too (3.11+; older
    // versions ignore an -X option they do not know).
    let debugpy = ["-Xfrozen_modules=off", "-m", "debugpy", "--listen", listen.as_str()];
    if let Some(r) = in_script(cmd, &debugpy.join(" "), |program, next| {
        if !is_python(program) {
            return Err(unsupported("python", cmd, &format!("its script starts '{program}', not python")));
        }
        match next {
            Some(n) if n.starts_with('-') && n != "-m" && n != "-c" => {
                Err(unsupported("python", cmd, "its script gives python options, which must stay before debugpy's"))
            }
            None => Err(unsupported("python", cmd, "its script gives python nothing to run")),
            _ => Ok(()),
        }
    }) {
        return r;
    }
    let program = cmd[0].as_str();
    if PYTHON_TOOLS.contains(&base(program)) {
        let mut out: Vec<String> = vec!["python3".into()];
        out.extend(debugpy.iter().map(|s| s.to_string()));
        out.extend(["-m".to_string(), base(program).to_string()]);
        out.extend(cmd[1..].iter().cloned());
        return Ok(out);
    }
    if !is_python(program) {
        return Err(unsupported("python", cmd, &format!("'{program}' is not python")));
    }
    // Interpreter options come first and stay before `-m debugpy`.
    let mut i = 1;
    while i < cmd.len() {
        let a = cmd[i].as_str();
        if a == "-m" || a == "-c" || !a.starts_with('-') || a == "-" {
            break;
        }
        // Options whose value is the next argument.
        if matches!(a, "-W" | "-X" | "--check-hash-based-pycs") {
            i += 1;
        }
        i += 1;
    }
    match cmd.get(i).map(String::as_str) {
        None => return Err(unsupported("python", cmd, "it gives python nothing to run")),
        Some("-") => return Err(unsupported("python", cmd, "it reads the program from standard input")),
        Some("-m") if cmd.get(i + 1).map(String::as_str) == Some("debugpy") => {
            return Err(format!(
            "'{}' already runs debugpy: set {KEY}.port to the port it listens on (and {KEY}.command to it as written)",
            cmd.join(" ")
        ))
        }
        _ => {}
    }
    let mut out = cmd[..i].to_vec();
    out.extend(debugpy.iter().map(|s| s.to_string()));
    out.extend(cmd[i..].iter().cloned());
    Ok(out)
}

/// `node [options] script args` -> `node --inspect=HOST:PORT [options] script args` (an
/// `--inspect-brk` stays a break at start); `nodemon args` -> `nodemon --inspect=HOST:PORT args`;
/// `npm start`, `npm run X`, `yarn X`, `pnpm X` run package.json's script directly (npm itself
/// is a node process that would take the inspector's port), its first program under the inspector.
fn node(cmd: &[String], host: &str, port: u16, scripts: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let inspect = format!("--inspect={host}:{port}");
    let in_node = |program: &str, _: Option<&str>| {
        if is_node(program) || base(program) == "nodemon" {
            Ok(())
        } else {
            Err(unsupported("node", cmd, &format!("its script starts '{program}', not node")))
        }
    };
    if let Some(r) = in_script(cmd, &inspect, in_node) {
        return r;
    }
    let program = base(&cmd[0]);
    if is_node(program) {
        let brk = cmd[1..].iter().any(|a| a == "--inspect-brk" || a.starts_with("--inspect-brk="));
        let flag = if brk { format!("--inspect-brk={host}:{port}") } else { inspect };
        let mut out = vec![cmd[0].clone(), flag];
        out.extend(cmd[1..].iter().filter(|a| !is_inspect_flag(a)).cloned());
        return Ok(out);
    }
    if program == "nodemon" {
        let mut out = vec![cmd[0].clone(), inspect];
        out.extend(cmd[1..].iter().filter(|a| !is_inspect_flag(a)).cloned());
        return Ok(out);
    }
    if matches!(program, "npm" | "yarn" | "pnpm") {
        let name = match cmd[1..].iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["start", ..] => "start",
            ["run" | "run-script", name, ..] => name,
            [name, ..] if program != "npm" => name,
            _ => return Err(unsupported("node", cmd, "it runs no package.json script")),
        };
        let script = match scripts.get(name) {
            Some(s) => s.clone(),
            // npm's own default for a package without a start script.
            None if name == "start" => "node server.js".to_string(),
            None => return Err(unsupported("node", cmd, &format!("package.json has no script '{name}'"))),
        };
        // As npm runs it: in the package's folder, with its installed tools on PATH.
        let wrapped =
            vec!["/bin/sh".to_string(), "-c".into(), format!("PATH=\"$PWD/node_modules/.bin:$PATH\" exec {script}")];
        return match in_script(&wrapped, &format!("--inspect={host}:{port}"), |program, _| {
            if is_node(program) || base(program) == "nodemon" {
                Ok(())
            } else {
                Err(unsupported(
                    "node",
                    cmd,
                    &format!("package.json's script '{name}' runs '{script}', which does not start with node"),
                ))
            }
        }) {
            Some(r) => r,
            None => Err(unsupported("node", cmd, &format!("package.json's script '{name}' is empty"))),
        };
    }
    Err(unsupported("node", cmd, &format!("'{}' is not node", cmd[0])))
}

fn is_inspect_flag(a: &str) -> bool {
    a == "--inspect" || a == "--inspect-brk" || a.starts_with("--inspect=") || a.starts_with("--inspect-brk=")
}

/// `go run [build flags] package args` -> `dlv debug package ... -- args`; any other program is
/// a built binary: `dlv exec BINARY --headless --listen=HOST:PORT --api-version=2
/// --accept-multiclient --continue -- args`.
fn go(cmd: &[String], host: &str, port: u16) -> Result<Vec<String>, String> {
    let headless = [
        "--headless".to_string(),
        format!("--listen={host}:{port}"),
        "--api-version=2".into(),
        "--accept-multiclient".into(),
        "--continue".into(),
    ];
    let program = base(&cmd[0]);
    if program == "dlv" {
        return Err(format!(
            "'{}' already runs Delve: set {KEY}.port to the port it listens on (and {KEY}.command to it as written)",
            cmd.join(" ")
        ));
    }
    if is_shell(program) {
        return Err(unsupported("go", cmd, "Delve runs a Go program, not a shell script"));
    }
    if program == "go" {
        if cmd.get(1).map(String::as_str) != Some("run") {
            return Err(unsupported("go", cmd, "only 'go run' is a Go command that runs the app"));
        }
        let rest = &cmd[2..];
        let flags: Vec<&String> = rest.iter().take_while(|a| a.starts_with('-')).collect();
        let Some(package) = rest.get(flags.len()) else {
            return Err(unsupported("go", cmd, "'go run' names no package"));
        };
        let mut out = vec!["dlv".to_string(), "debug".into(), package.clone()];
        out.extend(headless);
        if !flags.is_empty() {
            out.push(format!("--build-flags={}", flags.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(" ")));
        }
        out.push("--".into());
        out.extend(rest[flags.len() + 1..].iter().cloned());
        return Ok(out);
    }
    let mut out = vec!["dlv".to_string(), "exec".into(), cmd[0].clone()];
    out.extend(headless);
    out.push("--".into());
    out.extend(cmd[1..].iter().cloned());
    Ok(out)
}

/// `dotnet app.dll args` (or a self-contained app) -> `netcoredbg --interpreter=vscode
/// --server=PORT -- dotnet app.dll args`. netcoredbg has no listen address: it listens on every
/// interface.
fn dotnet(cmd: &[String], port: u16) -> Result<Vec<String>, String> {
    let program = base(&cmd[0]);
    if program == "netcoredbg" {
        return Err(format!(
            "'{}' already runs netcoredbg: set {KEY}.port to the port it listens on (and {KEY}.command to it as written)",
            cmd.join(" ")
        ));
    }
    if is_shell(program) {
        return Err(unsupported("dotnet", cmd, "netcoredbg runs a .NET program, not a shell script"));
    }
    if program == "dotnet" && cmd.get(1).is_none_or(|a| !a.ends_with(".dll")) {
        return Err(unsupported(
            "dotnet",
            cmd,
            "'dotnet run' (or any dotnet command but 'dotnet app.dll') starts the app as a child that netcoredbg does not follow; run the built assembly, e.g. [netcoredbg, --interpreter=vscode, --server=4711, --, dotnet, bin/Debug/net8.0/app.dll]",
        ));
    }
    let mut out =
        vec!["netcoredbg".to_string(), "--interpreter=vscode".into(), format!("--server={port}"), "--".into()];
    out.extend(cmd.iter().cloned());
    Ok(out)
}

/// `java [options] ...` -> `java -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=HOST:PORT [options] ...`,
/// also as the first program of a shell script (`sh -c "exec java -jar ..."`).
fn java(cmd: &[String], host: &str, port: u16) -> Result<Vec<String>, String> {
    let agent = format!("-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address={host}:{port}");
    let in_java = |program: &str, _: Option<&str>| {
        if base(program) == "java" {
            Ok(())
        } else {
            Err(unsupported("java", cmd, &format!("its script starts '{program}', not java")))
        }
    };
    if let Some(r) = in_script(cmd, &agent, in_java) {
        return r;
    }
    if base(&cmd[0]) != "java" {
        return Err(unsupported(
            "java",
            cmd,
            &format!("'{}' is not java (a build tool's own JVM would take the debug port first)", cmd[0]),
        ));
    }
    if cmd.iter().any(|a| a.starts_with("-agentlib:jdwp") || a.starts_with("-Xrunjdwp")) {
        return Err(format!(
            "'{}' already starts JDWP: set {KEY}.port to its address's port (and {KEY}.command to it as written)",
            cmd.join(" ")
        ));
    }
    let mut out = vec![cmd[0].clone(), agent];
    out.extend(cmd[1..].iter().cloned());
    Ok(out)
}

/// What to install when an app that was to start under its debugger ended because the debugger
/// is missing, from its last lines of output (the agent's "cannot start" line included).
pub fn missing_debugger(last_lines: &[String]) -> Option<String> {
    let said = |needle: &str| last_lines.iter().any(|l| l.contains(needle));
    let hint = if said("No module named debugpy") {
        "debugpy is not installed where the app's python finds it: install it into the image (pip install debugpy), or on this machine for the local backend (python3 -m pip install --target DIR debugpy, with DIR on PYTHONPATH)"
    } else if said("cannot start 'dlv ") {
        "Delve is not installed: go install github.com/go-delve/delve/cmd/dlv@latest (in the image, or on this machine's PATH for the local backend)"
    } else if said("cannot start 'netcoredbg ") {
        "netcoredbg is not installed: add it to the image (github.com/Samsung/netcoredbg releases), or to this machine's PATH for the local backend"
    } else {
        return None;
    };
    Some(hint.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').filter(|w| !w.is_empty()).map(String::from).collect()
    }

    struct Case {
        command: Vec<String>,
        debug: Debug,
        stack: Option<DebugAdapter>,
        port: Option<u16>,
    }

    fn case(command: &str) -> Case {
        Case { command: words(command), debug: Debug::default(), stack: None, port: None }
    }

    fn run(c: &Case, host: &str) -> Result<Plan, String> {
        let scripts = BTreeMap::from([
            ("start".to_string(), "node --enable-source-maps dist/server.js".to_string()),
            ("dev".to_string(), "nodemon src/server.js".to_string()),
            ("lint".to_string(), "eslint .".to_string()),
        ]);
        plan(&Request { command: &c.command, debug: &c.debug, host, port: c.port, stack: c.stack, scripts: &scripts })
    }

    /// (command, the command planned on this machine at port 41000, the adapter).
    #[test]
    fn commands_run_under_their_stacks_debug_server_on_this_machine() {
        use DebugAdapter::*;
        let table: &[(&str, &str, DebugAdapter)] = &[
            (
                "python3 app.py --port 80",
                "python3 -Xfrozen_modules=off -m debugpy --listen 127.0.0.1:41000 app.py --port 80",
                Python,
            ),
            (
                "/usr/local/bin/python3.12 -u -W ignore -m web.main",
                "/usr/local/bin/python3.12 -u -W ignore -Xfrozen_modules=off -m debugpy --listen 127.0.0.1:41000 -m web.main",
                Python,
            ),
            ("python -c main()", "python -Xfrozen_modules=off -m debugpy --listen 127.0.0.1:41000 -c main()", Python),
            (
                "flask run --host 0.0.0.0",
                "python3 -Xfrozen_modules=off -m debugpy --listen 127.0.0.1:41000 -m flask run --host 0.0.0.0",
                Python,
            ),
            ("node server.js", "node --inspect=127.0.0.1:41000 server.js", Node),
            (
                "node --inspect-brk --max-old-space-size=512 server.js",
                "node --inspect-brk=127.0.0.1:41000 --max-old-space-size=512 server.js",
                Node,
            ),
            ("nodemon --inspect app.js", "nodemon --inspect=127.0.0.1:41000 app.js", Node),
            (
                "go run -race ./cmd/web --verbose",
                "dlv debug ./cmd/web --headless --listen=127.0.0.1:41000 --api-version=2 --accept-multiclient --continue --build-flags=-race -- --verbose",
                Go,
            ),
            (
                "java -Xmx512m -jar /app/app.jar",
                "java -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:41000 -Xmx512m -jar /app/app.jar",
                Java,
            ),
            (
                "dotnet /app/web.dll --urls http://*:80",
                "netcoredbg --interpreter=vscode --server=41000 -- dotnet /app/web.dll --urls http://*:80",
                Dotnet,
            ),
        ];
        for (command, want, adapter) in table {
            let c = Case { port: Some(41000), ..case(command) };
            let p = run(&c, "127.0.0.1").unwrap_or_else(|e| panic!("{command}: {e}"));
            assert_eq!(p.command, words(want), "{command}");
            assert_eq!((p.port, p.adapter), (41000, *adapter), "{command}");
        }
    }

    #[test]
    fn in_a_container_the_server_listens_on_every_address_at_the_adapters_usual_port() {
        use DebugAdapter::*;
        let table: &[(&str, &str, u16, DebugAdapter)] = &[
            ("python3 app.py", "python3 -Xfrozen_modules=off -m debugpy --listen 0.0.0.0:5678 app.py", 5678, Python),
            ("node server.js", "node --inspect=0.0.0.0:9229 server.js", 9229, Node),
            (
                "/src/app",
                "dlv exec /src/app --headless --listen=0.0.0.0:2345 --api-version=2 --accept-multiclient --continue --",
                2345,
                Go,
            ),
            ("dotnet web.dll", "netcoredbg --interpreter=vscode --server=4711 -- dotnet web.dll", 4711, Dotnet),
            (
                "java -jar app.jar",
                "java -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=0.0.0.0:5005 -jar app.jar",
                5005,
                Java,
            ),
        ];
        for (command, want, port, adapter) in table {
            // A Go binary says nothing by its name: the project's go.mod does.
            let c = Case { stack: (*adapter == Go).then_some(Go), ..case(command) };
            let p = run(&c, "0.0.0.0").unwrap_or_else(|e| panic!("{command}: {e}"));
            assert_eq!(p, Plan { command: words(want), port: *port, adapter: *adapter }, "{command}");
        }
    }

    #[test]
    fn shell_scripts_and_package_scripts_get_the_debugger_on_their_first_program() {
        let sh = |s: &str| vec!["/bin/sh".to_string(), "-c".into(), s.to_string()];
        // prep's Java command.
        let c = Case { command: sh("exec java -jar $(ls target/*.jar | head -n 1)"), ..case("") };
        let p = run(&c, "0.0.0.0").unwrap();
        assert_eq!(
            p.command,
            sh("exec java -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=0.0.0.0:5005 -jar $(ls target/*.jar | head -n 1)")
        );
        let c = Case { command: sh("PYTHONUNBUFFERED=1 exec python3 app.py"), port: Some(41000), ..case("") };
        assert_eq!(
            run(&c, "127.0.0.1").unwrap().command,
            sh("PYTHONUNBUFFERED=1 exec python3 -Xfrozen_modules=off -m debugpy --listen 127.0.0.1:41000 app.py")
        );
        // npm itself is node: package.json's script runs directly, as npm would run it.
        let p = run(&case("npm start"), "0.0.0.0").unwrap();
        assert_eq!(
            p.command,
            sh("PATH=\"$PWD/node_modules/.bin:$PATH\" exec node --inspect=0.0.0.0:9229 --enable-source-maps dist/server.js")
        );
        let p = run(&case("npm run dev"), "0.0.0.0").unwrap();
        assert_eq!(
            p.command,
            sh("PATH=\"$PWD/node_modules/.bin:$PATH\" exec nodemon --inspect=0.0.0.0:9229 src/server.js")
        );
        assert_eq!(run(&case("yarn dev"), "0.0.0.0").unwrap().command, p.command);
        let e = run(&case("npm run lint"), "0.0.0.0").unwrap_err();
        assert!(e.contains("package.json's script 'lint' runs 'eslint .', which does not start with node"), "{e}");
    }

    #[test]
    fn the_debug_key_chooses_port_adapter_or_the_whole_command() {
        // A port of its own, on every backend.
        let c = Case { debug: Debug { port: Some(7000), ..Debug::default() }, port: Some(41000), ..case("node a.js") };
        assert_eq!(run(&c, "127.0.0.1").unwrap().command, words("node --inspect=127.0.0.1:7000 a.js"));
        // A command as written, on the adapter's usual port unless it says another.
        let debug = Debug { command: words("dlv debug --headless --listen=:2345 ."), ..Debug::default() };
        let c = Case { debug, ..case("/src/app") };
        let p = run(&c, "0.0.0.0").unwrap();
        assert_eq!(
            (p.command, p.port, p.adapter),
            (words("dlv debug --headless --listen=:2345 ."), 2345, DebugAdapter::Go)
        );
        // The adapter names the stack when the command does not.
        let c = Case { debug: Debug { adapter: Some(DebugAdapter::Go), ..Debug::default() }, ..case("./server -v") };
        assert_eq!(run(&c, "0.0.0.0").unwrap().command[..3], words("dlv exec ./server")[..]);
    }

    #[test]
    fn what_cannot_be_debugged_says_which_key_to_add() {
        let table: &[(&str, Option<DebugAdapter>, &str)] = &[
            (
                "./start.sh",
                None,
                "cannot tell how to debug './start.sh': add configurations.develop.container.debug with adapter",
            ),
            (
                "./start.sh",
                Some(DebugAdapter::Python),
                "'./start.sh' is not python; set configurations.develop.container.debug.command",
            ),
            (
                "dotnet run --no-build",
                None,
                "'dotnet run' (or any dotnet command but 'dotnet app.dll') starts the app as a child",
            ),
            ("mvn spring-boot:run", None, "'mvn' is not java (a build tool's own JVM would take the debug port first)"),
            (
                "python3 -m debugpy --listen 5678 app.py",
                None,
                "already runs debugpy: set configurations.develop.container.debug.port",
            ),
            ("python3 -u", None, "it gives python nothing to run"),
            ("/bin/sh -c ./run.sh", Some(DebugAdapter::Go), "Delve runs a Go program, not a shell script"),
        ];
        for (command, stack, want) in table {
            let c = Case { stack: *stack, ..case(command) };
            let e = run(&c, "0.0.0.0").unwrap_err();
            assert!(e.contains(want), "{command}: {e}");
        }
        let e = run(&case(""), "0.0.0.0").unwrap_err();
        assert!(e.starts_with("no command to debug"), "{e}");
    }

    #[test]
    fn a_missing_debugger_is_named_from_the_apps_last_lines() {
        let lines = |l: &str| vec!["Traceback".to_string(), l.to_string()];
        let hint = missing_debugger(&lines("/usr/bin/python3: No module named debugpy")).unwrap();
        assert!(hint.starts_with("debugpy is not installed"), "{hint}");
        let hint = missing_debugger(&lines("cannot start 'dlv exec ./app': No such file or directory")).unwrap();
        assert!(hint.starts_with("Delve is not installed"), "{hint}");
        assert_eq!(missing_debugger(&lines("ModuleNotFoundError: No module named 'flask'")), None);
    }
}
