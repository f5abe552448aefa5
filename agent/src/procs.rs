//! Reads `/proc`: a process's descendants (for processesToKill) and the TCP ports they listen on.

use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// The kernel's short name (15 bytes at most).
    pub comm: String,
    /// The basename of argv[0], which is what users write in processesToKill.
    pub exe_name: String,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let ppid = stat[close + 2..].split_whitespace().nth(1)?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    let exe_name = argv0.rsplit('/').next().unwrap_or_default().to_string();
    Some(Proc { pid, ppid, comm, exe_name })
}

fn all() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter_map(read_proc)
        .collect()
}

/// Every living descendant of `root` (not `root` itself), read from its own tree when the kernel
/// offers `/proc/<pid>/task/<tid>/children`, else from a scan of every process.
pub fn descendants(root: i32) -> Vec<Proc> {
    match descendant_pids(root) {
        Some(pids) => pids.into_iter().filter_map(read_proc).collect(),
        None => descendants_by_scan(root),
    }
}

fn descendants_by_scan(root: i32) -> Vec<Proc> {
    let procs = all();
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for c in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            out.push((*c).clone());
            stack.push(c.pid);
        }
    }
    out
}

/// The pids below `root`, walking `/proc/<pid>/task/<tid>/children` (cheap: it reads only the
/// tree's own entries, not every process of the machine); `None` where the kernel lacks that file.
pub fn descendant_pids(root: i32) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok();
        let Some(tasks) = tasks else { continue };
        for task in tasks.flatten() {
            let text = match std::fs::read_to_string(task.path().join("children")) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && pid == root => return None,
                Err(_) => continue,
            };
            for child in text.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
                out.push(child);
                stack.push(child);
            }
        }
    }
    Some(out)
}

/// What `/proc/<pid>/stat` says of a process's lifetime and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter: `Z` for a zombie.
    pub state: char,
    pub pgrp: i32,
    /// When it started, in clock ticks since boot: with the pid, it names one process for good.
    pub start: u64,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The living (not zombie) processes of process group `pgid`, by a scan of `/proc`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| stat(*pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
        .collect()
}

/// Whether a process answers to a processesToKill name: its argv[0] basename or its comm.
pub fn name_matches(p: &Proc, name: &str) -> bool {
    p.exe_name == name || p.comm == name || (name.len() > 15 && p.comm == name[..15])
}

fn socket_inodes(pid: i32) -> HashSet<u64> {
    let mut out = HashSet::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    if let Ok(n) = n.parse() {
                        out.insert(n);
                    }
                }
            }
        }
    }
    out
}

/// The TCP ports in LISTEN state held by any of `pids`.
pub fn listening_ports(pids: &[i32]) -> Vec<u16> {
    let inodes: HashSet<u64> = pids.iter().flat_map(|p| socket_inodes(*p)).collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let Ok(inode) = cols[9].parse::<u64>() else { continue };
            if !inodes.contains(&inode) {
                continue;
            }
            if let Some(port) = cols[1].rsplit(':').next().and_then(|h| u16::from_str_radix(h, 16).ok()) {
                ports.insert(port);
            }
        }
    }
    ports.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_listener_and_children() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let me = std::process::id() as i32;
        assert!(listening_ports(&[me]).contains(&port));
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let found = descendants(me);
        assert!(found.iter().any(|p| p.pid == child.id() as i32 && name_matches(p, "sleep")), "{found:?}");
        let pids = descendant_pids(me).expect("/proc/<pid>/task/<tid>/children");
        assert!(pids.contains(&(child.id() as i32)), "{pids:?}");
        let mine = stat(me).expect("stat");
        assert_ne!(mine.state, 'Z');
        assert_eq!(stat(child.id() as i32).map(|s| s.pgrp), Some(mine.pgrp));
        assert!(group_members(mine.pgrp).contains(&(child.id() as i32)));
        let _ = child.kill();
        let _ = child.wait();
    }
}
