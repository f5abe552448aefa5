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

/// A living process; `None` for a zombie too (it is dead: no signal reaches it, it holds no port,
/// and only its parent's wait removes it).
fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let mut fields = stat[close + 2..].split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    let ppid = fields.next()?.parse().ok()?;
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

/// The zombie children of `parent`, by a scan of `/proc`: for an agent that is a container's
/// init, the orphans the kernel gave it (debugpy's adapter, which double-forks out of the app)
/// once they died.
pub fn zombie_children(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            let Some(rest) = text.rfind(')').and_then(|i| text.get(i + 2..)) else { return false };
            let mut f = rest.split_whitespace();
            f.next() == Some("Z") && f.next().and_then(|p| p.parse::<i32>().ok()) == Some(parent)
        })
        .collect()
}

/// Every living descendant of `root` (not `root` itself, no zombie), read from its own tree when the kernel
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

/// A TCP socket in LISTEN state, as a row of `/proc/net/tcp` or `/proc/net/tcp6` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    /// The owner of the socket (the user of the process that opened it).
    pub uid: u32,
    /// The socket's inode: `/proc/<pid>/fd/<n>` of a holder links to `socket:[<inode>]`.
    pub inode: u64,
}

/// The LISTEN rows (state `0A`) of the text of `/proc/net/tcp` or `/proc/net/tcp6`; the header
/// and malformed rows are skipped.
pub fn parse_listeners(text: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                return None;
            }
            let port = cols[1].rsplit(':').next().and_then(|h| u16::from_str_radix(h, 16).ok())?;
            Some(Listener { port, uid: cols[7].parse().ok()?, inode: cols[9].parse().ok()? })
        })
        .collect()
}

/// Every TCP socket of this network namespace in LISTEN state, IPv4 and IPv6.
pub fn listeners() -> Vec<Listener> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| parse_listeners(&text))
        .collect()
}

/// The TCP ports in LISTEN state held by any of `pids`.
pub fn listening_ports(pids: &[i32]) -> Vec<u16> {
    let inodes: HashSet<u64> = pids.iter().flat_map(|p| socket_inodes(*p)).collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let ports: BTreeSet<u16> = listeners().into_iter().filter(|l| inodes.contains(&l.inode)).map(|l| l.port).collect();
    ports.into_iter().collect()
}

/// The processes (among those whose descriptors this process may read) holding any of the
/// sockets `inodes`, by a scan of every `/proc/<pid>/fd`.
pub fn holders(inodes: &HashSet<u64>) -> Vec<i32> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| !socket_inodes(*pid).is_disjoint(inodes))
        .collect()
}

/// The user a process runs as (the owner of its `/proc/<pid>` folder).
pub fn uid(pid: i32) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}")).ok().map(|m| m.uid())
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

    #[test]
    fn a_zombie_child_is_no_descendant_but_a_zombie_child() {
        let me = std::process::id() as i32;
        // `true` ends at once; unwaited, it stays a zombie of this process.
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat(pid).is_some_and(|s| s.state != 'Z') {
            assert!(std::time::Instant::now() < deadline, "true did not end");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!descendants(me).iter().any(|p| p.pid == pid), "a zombie is not a living descendant");
        assert!(!descendants_by_scan(me).iter().any(|p| p.pid == pid));
        assert!(zombie_children(me).contains(&pid));
        let _ = child.wait();
        assert!(!zombie_children(me).contains(&pid), "reaped");
    }

    /// Rows as the kernel writes them: a header, LISTEN (`0A`) and other states, IPv4 and IPv6.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:162E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 48213 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9876 1 0000000000000000 100 0 0 10 0
   2: 0100007F:162E 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 48300 1 0000000000000000 20 4 30 10 -1
   3: garbage
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listen_rows_are_read_from_the_kernel_tables() {
        assert_eq!(
            parse_listeners(TCP),
            vec![Listener { port: 5678, uid: 1000, inode: 48213 }, Listener { port: 8080, uid: 0, inode: 9876 },]
        );
        assert_eq!(parse_listeners(TCP6), vec![Listener { port: 9090, uid: 1000, inode: 51234 }]);
        assert!(parse_listeners("").is_empty());
    }

    #[test]
    fn a_listener_is_found_with_its_holder_and_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let me = std::process::id() as i32;
        let found: Vec<Listener> = listeners().into_iter().filter(|l| l.port == port).collect();
        assert_eq!(found.len(), 1, "{found:?}");
        // SAFETY: getuid has no preconditions.
        let my_uid = unsafe { nix::libc::getuid() };
        assert_eq!(found[0].uid, my_uid);
        assert_eq!(uid(me), Some(my_uid));
        assert_eq!(holders(&HashSet::from([found[0].inode])), vec![me]);
    }
}
