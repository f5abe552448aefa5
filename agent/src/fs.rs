//! Writes synced files under the agent's root, and nowhere else.
//!
//! A wire path is checked as text first: empty, absolute, `..` and NUL are refused. Its folders
//! are then opened beneath the root by the kernel, `openat2` with `RESOLVE_BENEATH`: a symlink is
//! followed only while it stays beneath the root, so a folder swapped for a symlink between the
//! check and the write cannot lead outside. Files are created, renamed and unlinked relative to
//! the folder's descriptor, never by a path again. Where `openat2` is missing (Linux before 5.6,
//! or a seccomp profile that refuses it) each folder is opened with `openat(O_NOFOLLOW)`, one
//! component at a time, which refuses every symlink on the way.

use std::ffi::{CString, OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use devspaces_protocol::agent::{CheckFile, Held};
use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, renameat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// The part of a temp file's name after `.<name>`: `.devspaces-` and 12 hex digits.
const TEMP_MARK: &[u8] = b".devspaces-";
const TEMP_HEX: usize = 12;

/// A wire path checked as text: its folders and its file name.
struct WirePath<'a> {
    wire: &'a str,
    dirs: Vec<&'a OsStr>,
    name: &'a OsStr,
}

fn parse(wire: &str) -> Result<WirePath<'_>, String> {
    if wire.is_empty() {
        return Err("refusing empty path".into());
    }
    if wire.contains('\0') {
        return Err(format!("refusing path '{}': contains NUL", wire.escape_debug()));
    }
    let mut parts = Vec::new();
    for c in Path::new(wire).components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("refusing path '{wire}': contains '..'")),
            Component::RootDir | Component::Prefix(_) => return Err(format!("refusing path '{wire}': absolute")),
        }
    }
    let name = match parts.pop() {
        Some(name) if !wire.ends_with('/') => name,
        _ => return Err(format!("refusing path '{wire}': names no file")),
    };
    Ok(WirePath { wire, dirs: parts, name })
}

const UNKNOWN: u8 = 0;
const OPENAT2: u8 = 1;
const WALK: u8 = 2;
/// Whether this kernel has a working `openat2`, found out by the first root opened.
static RESOLVER: AtomicU8 = AtomicU8::new(UNKNOWN);

/// A folder opened only to be a place (`O_PATH`): the `*at` calls work from it, and it needs no
/// read permission on the folder, just as writing by path needed none.
fn dir_flags() -> OFlag {
    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC
}

fn beneath(flags: OFlag) -> OpenHow {
    OpenHow::new().flags(flags).resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

fn errno(e: std::io::Error) -> Errno {
    e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO)
}

/// The agent's root, open: everything below is reached from this descriptor.
struct Root {
    fd: OwnedFd,
    /// No `openat2`: folders are opened one component at a time, refusing symlinks.
    walk: bool,
}

impl Root {
    fn open(path: &Path) -> Result<Root, String> {
        let fd = nix::fcntl::open(path, dir_flags(), Mode::empty())
            .map_err(|e| format!("cannot open the root {}: {e}", path.display()))?;
        let walk = match RESOLVER.load(Ordering::Relaxed) {
            OPENAT2 => false,
            WALK => true,
            _ => {
                let works = openat2(&fd, ".", beneath(dir_flags())).is_ok();
                RESOLVER.store(if works { OPENAT2 } else { WALK }, Ordering::Relaxed);
                !works
            }
        };
        Ok(Root { fd, walk })
    }

    /// Opens the folder `rel` (components below the root) without leaving the root.
    fn open_dir(&self, rel: &[&OsStr]) -> nix::Result<OwnedFd> {
        if rel.is_empty() {
            return self.fd.try_clone().map_err(errno);
        }
        if self.walk {
            let mut cur = self.fd.try_clone().map_err(errno)?;
            for c in rel {
                cur = openat(&cur, *c, dir_flags() | OFlag::O_NOFOLLOW, Mode::empty())?;
            }
            return Ok(cur);
        }
        let path: PathBuf = rel.iter().collect();
        let mut tries = 0;
        loop {
            // EAGAIN: a rename raced the kernel's check of a `..` in a symlink; it asks for a retry.
            match openat2(&self.fd, &path, beneath(dir_flags())) {
                Err(Errno::EAGAIN) if tries < 16 => tries += 1,
                r => return r,
            }
        }
    }

    fn explain(&self, p: &WirePath, e: Errno) -> String {
        match e {
            Errno::EXDEV | Errno::ELOOP => format!("refusing path '{}': escapes the root through a symlink", p.wire),
            Errno::ENOTDIR if self.walk => format!(
                "refusing path '{}': a folder on it is a file or a symlink (without openat2 in this kernel, symlinks on synced paths are refused)",
                p.wire
            ),
            Errno::ENOTDIR => format!("cannot write '{}': a folder on it is a file", p.wire),
            e => format!("cannot open the folder of '{}': {}", p.wire, e.desc()),
        }
    }

    /// The folder of `p`, opened beneath the root; `None` when it does not exist and `create`
    /// is false. Missing folders are made one at a time, each in the one opened before it.
    fn folder(&self, p: &WirePath, create: bool) -> Result<Option<OwnedFd>, String> {
        match self.open_dir(&p.dirs) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::ENOENT) if create => {}
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.explain(p, e)),
        }
        let mut cur = self.open_dir(&[]).map_err(|e| self.explain(p, e))?;
        for i in 0..p.dirs.len() {
            match self.open_dir(&p.dirs[..=i]) {
                Ok(fd) => {
                    cur = fd;
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(self.explain(p, e)),
            }
            match mkdirat(&cur, p.dirs[i], Mode::from_bits_truncate(0o777)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(format!("cannot make a folder for '{}': {}", p.wire, e.desc())),
            }
            cur = self.open_dir(&p.dirs[..=i]).map_err(|e| self.explain(p, e))?;
        }
        Ok(Some(cur))
    }

    /// Writes one file: a temp file in its folder, then a rename over the name (atomic).
    fn write(&self, p: &WirePath, data: &[u8], mode: u32) -> Result<(), String> {
        let dir = self.folder(p, true)?.ok_or_else(|| format!("cannot make the folder of '{}'", p.wire))?;
        let tmp = temp_name(p.name);
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&dir, tmp.as_os_str(), flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| format!("writing '{}': {}", p.wire, e.desc()))?;
        let result = (|| {
            let mut file = std::fs::File::from(fd);
            file.write_all(data).map_err(errno)?;
            // Permission bits only: never setuid, setgid or sticky.
            fchmod(&file, Mode::from_bits_truncate(mode & 0o777))?;
            renameat(&dir, tmp.as_os_str(), &dir, p.name)
        })();
        if let Err(e) = result {
            let _ = unlinkat(&dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            return Err(match e {
                Errno::EISDIR => format!("cannot write '{}': it is a folder", p.wire),
                e => format!("writing '{}': {}", p.wire, e.desc()),
            });
        }
        Ok(())
    }
}

fn temp_name(name: &OsStr) -> OsString {
    let mut nonce = [0u8; TEMP_HEX / 2];
    let _ = getrandom::fill(&mut nonce);
    // A long name is cut so that the temp name still fits in 255 bytes.
    let base = &name.as_bytes()[..name.len().min(200)];
    let mut out = Vec::with_capacity(base.len() + 1 + TEMP_MARK.len() + TEMP_HEX);
    out.push(b'.');
    out.extend_from_slice(base);
    out.extend_from_slice(TEMP_MARK);
    out.extend(nonce.iter().flat_map(|b| format!("{b:02x}").into_bytes()));
    OsString::from_vec(out)
}

/// Whether a file name is one of the agent's temp files: `.<name>.devspaces-<12 hex digits>`.
pub fn is_temp_name(name: &[u8]) -> bool {
    let tail = TEMP_MARK.len() + TEMP_HEX;
    name.len() > 1 + tail
        && name[0] == b'.'
        && name[name.len() - tail..].starts_with(TEMP_MARK)
        && name[name.len() - TEMP_HEX..].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Checks a wire path without writing: the text, and that the folders that exist lead nowhere
/// outside the root.
pub fn check(root: &Path, wire: &str) -> Result<(), String> {
    let p = parse(wire)?;
    Root::open(root)?.folder(&p, false).map(drop)
}

/// Writes `data` to `target` atomically (temp file in the same folder, then rename), with the
/// permission bits of `mode`. For the agent's own files (its state), never for wire paths.
pub fn write_atomic(target: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let name = target.file_name().unwrap_or_default();
    let tmp = target.with_file_name(temp_name(name));
    let result = (|| {
        std::fs::write(&tmp, data)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o777))?;
        std::fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Applies a tar batch of regular files under `root`.
///
/// What a batch guarantees: every entry is read and checked (a regular file, a size the batch
/// holds, a path that stays beneath the root) before anything is written; then each file is
/// written whole or not at all (temp file, then rename), in order. A failure (or a kill)
/// part way leaves the files before it written and the rest untouched, never a half-written
/// file under its own name; a kill can leave a temp file, which the next start removes.
pub fn apply_tar(root: &Path, tar_bytes: &[u8]) -> Result<u32, String> {
    let root = Root::open(root)?;
    let mut archive = tar::Archive::new(tar_bytes);
    let mut staged = Vec::new();
    for entry in archive.entries().map_err(|e| format!("bad tar batch: {e}"))? {
        let mut entry = entry.map_err(|e| format!("bad tar entry: {e}"))?;
        let path = entry.path().map_err(|e| format!("bad tar path: {e}"))?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(format!("refusing '{path}': only regular files are synced"));
        }
        // The header's size is the sender's word: never allocate by it beyond what the batch holds.
        let size = entry.size();
        let left = (tar_bytes.len() as u64).saturating_sub(entry.raw_file_position());
        if size > left {
            return Err(format!(
                "refusing '{path}': its header claims {size} bytes, more than the {left} left in the batch"
            ));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut data).map_err(|e| format!("reading '{path}' from the batch: {e}"))?;
        if data.len() as u64 != size {
            return Err(format!("refusing '{path}': the batch ends {} bytes into its {size}", data.len()));
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        staged.push((path, data, mode));
    }
    let paths = staged.iter().map(|(path, _, _)| parse(path)).collect::<Result<Vec<_>, _>>()?;
    for p in &paths {
        root.folder(p, false)?;
    }
    for (p, (_, data, mode)) in paths.iter().zip(&staged) {
        root.write(p, data, *mode)?;
    }
    Ok(staged.len() as u32)
}

/// Deletes the given files; a file already gone is not an error, and folders are never removed.
pub fn delete(root: &Path, paths: &[String]) -> Result<u32, String> {
    let root = Root::open(root)?;
    let paths = paths.iter().map(|p| parse(p)).collect::<Result<Vec<_>, _>>()?;
    for p in &paths {
        root.folder(p, false)?;
    }
    let mut n = 0;
    for p in &paths {
        let Some(dir) = root.folder(p, false)? else { continue };
        match unlinkat(&dir, p.name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => n += 1,
            Err(Errno::ENOENT) => {}
            Err(Errno::EISDIR) => return Err(format!("cannot delete '{}': it is a folder", p.wire)),
            Err(e) => return Err(format!("deleting '{}': {}", p.wire, e.desc())),
        }
    }
    Ok(n)
}

/// Which of `files` the root already holds: for each that is a regular file of the listed size
/// (not a symlink), its index, content hash and permission bits. Paths are checked as for a batch
/// (a bad one refuses the whole check); a file beneath a symlink that leaves the root, or that is
/// missing, another size or not a regular file, is simply not held. Nothing is written.
pub fn held(root: &Path, files: &[CheckFile]) -> Result<Vec<Held>, String> {
    let root = Root::open(root)?;
    let paths = files.iter().map(|f| parse(&f.path)).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    // Files come sorted by path: the folder of the one before is often this one's.
    let mut folder: Option<(Vec<&OsStr>, Option<OwnedFd>)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    for (index, (p, f)) in paths.iter().zip(files).enumerate() {
        if folder.as_ref().is_none_or(|(dirs, _)| *dirs != p.dirs) {
            folder = Some((p.dirs.clone(), root.folder(p, false).ok().flatten()));
        }
        let Some((_, Some(dir))) = &folder else { continue };
        if let Some((blake3, mode)) = hash_if_sized(dir, p.name, f.size, &mut buf) {
            out.push(Held { index: index as u32, blake3, mode });
        }
    }
    Ok(out)
}

/// The hash and permission bits of the regular file `name` in `dir` when it has `size` bytes.
fn hash_if_sized(dir: &OwnedFd, name: &OsStr, size: u64, buf: &mut [u8]) -> Option<(String, u32)> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG || st.st_size as u64 != size {
        return None;
    }
    // O_NONBLOCK: a file swapped for a FIFO since the stat does not hang the agent.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let mut file = std::fs::File::from(openat(dir, name, flags, Mode::empty()).ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() != size {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    let mut read = 0u64;
    loop {
        let n = file.read(buf).ok()?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buf[..n]);
    }
    (read == size).then(|| (hasher.finalize().to_hex().to_string(), meta.permissions().mode() & 0o777))
}

/// Removes the temp files a killed write left anywhere under `root` (symlinks not followed) and
/// returns how many. Run at start, before any batch.
pub fn remove_temp_files(root: &Path) -> Result<usize, String> {
    let root = Root { walk: true, ..Root::open(root)? };
    let mut removed = 0;
    let mut pending: Vec<Vec<OsString>> = vec![Vec::new()];
    while let Some(rel) = pending.pop() {
        let parts: Vec<&OsStr> = rel.iter().map(OsString::as_os_str).collect();
        let Ok(fd) = root.open_dir(&parts) else { continue };
        let readable = openat(&fd, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty());
        let Ok(listing) = readable.and_then(Dir::from_fd) else { continue };
        let mut temps = Vec::new();
        for entry in listing.into_iter().flatten() {
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let kind = entry.file_type().or_else(|| {
                let st = fstatat(&fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
                match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                    SFlag::S_IFDIR => Some(Type::Directory),
                    SFlag::S_IFREG => Some(Type::File),
                    _ => None,
                }
            });
            match kind {
                Some(Type::Directory) => {
                    let mut sub = rel.clone();
                    sub.push(OsStr::from_bytes(name.to_bytes()).to_os_string());
                    pending.push(sub);
                }
                Some(Type::File) if is_temp_name(name.to_bytes()) => temps.push(CString::from(name)),
                _ => {}
            }
        }
        for t in temps {
            if unlinkat(&fd, t.as_c_str(), UnlinkatFlags::NoRemoveDir).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn batch(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_cksum();
            b.append_data(&mut h, path, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn refuses_paths_that_leave_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("ok")).expect("mkdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("ok", root.join("inside")).expect("symlink");
        // An absolute link, even to a folder inside the root, is refused.
        std::os::unix::fs::symlink(root.join("ok"), root.join("abs")).expect("symlink");
        let cases: &[(&str, Option<&str>)] = &[
            ("ok/a.txt", None),
            ("new/deep/a.txt", None),
            ("inside/a.txt", None),
            ("/etc/passwd", Some("refusing path '/etc/passwd': absolute")),
            ("../x", Some("refusing path '../x': contains '..'")),
            ("ok/../../x", Some("refusing path 'ok/../../x': contains '..'")),
            ("escape/a.txt", Some("refusing path 'escape/a.txt': escapes the root through a symlink")),
            ("escape/new/a.txt", Some("refusing path 'escape/new/a.txt': escapes the root through a symlink")),
            ("abs/a.txt", Some("refusing path 'abs/a.txt': escapes the root through a symlink")),
        ];
        for (wire, want) in cases {
            let got = check(&root, wire);
            match want {
                None => assert!(got.is_ok(), "{wire}: {got:?}"),
                Some(msg) => assert_eq!(got.expect_err(wire), *msg),
            }
        }
        for (wire, want) in [
            ("", "refusing empty path"),
            ("a/", "refusing path 'a/': names no file"),
            (".", "refusing path '.': names no file"),
            ("a\0b", "refusing path 'a\\0b': contains NUL"),
        ] {
            assert_eq!(check(&root, wire).unwrap_err(), want);
        }
        // Without openat2, every symlink on the way is refused, not only those that leave.
        let walk = Root { walk: true, ..Root::open(&root).unwrap() };
        for (wire, ok) in
            [("ok/a.txt", true), ("new/deep/a.txt", true), ("inside/a.txt", false), ("escape/a.txt", false)]
        {
            let p = parse(wire).unwrap();
            assert_eq!(walk.folder(&p, false).is_ok(), ok, "{wire}");
            assert_eq!(walk.write(&p, b"x", 0o644).is_ok(), ok, "{wire}");
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn tar_batch_writes_atomically_and_keeps_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, "bin/run.sh", &b"hi\n"[..]).expect("append");
        let bytes = b.into_inner().expect("tar");
        assert_eq!(apply_tar(dir.path(), &bytes), Ok(1));
        let meta = std::fs::metadata(dir.path().join("bin/run.sh")).expect("written");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("bin")).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no temp files stay behind");
    }

    /// Applies 2000 batches writing `d/x.txt` while another thread swaps `d` between a folder
    /// and a symlink to outside the root; returns what landed outside. With the check and the
    /// write apart, some writes did (51 of 2000 in issue 12).
    fn race(apply: impl Fn(&Path, &[u8]) -> bool) -> (Vec<OsString>, usize) {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join(".real")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join(".link")).expect("symlink");
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (root, stop) = (root.clone(), stop.clone());
            std::thread::spawn(move || {
                let d = root.join("d");
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::rename(root.join(".real"), &d);
                    let _ = std::fs::rename(&d, root.join(".real"));
                    let _ = std::fs::rename(root.join(".link"), &d);
                    let _ = std::fs::rename(&d, root.join(".link"));
                }
            })
        };
        let tar = batch(&[("d/x.txt", b"x", 0o644)]);
        let written = (0..2000).filter(|_| apply(&root, &tar)).count();
        stop.store(true, Ordering::Relaxed);
        swapper.join().expect("swapper");
        (std::fs::read_dir(&outside).expect("outside").flatten().map(|e| e.file_name()).collect(), written)
    }

    #[test]
    fn a_folder_swapped_for_a_symlink_never_leads_outside() {
        let (escaped, written) = race(|root, tar| apply_tar(root, tar).is_ok());
        assert!(escaped.is_empty(), "written outside the root: {escaped:?} ({written} of 2000 batches applied)");
        assert!(written > 0, "no batch was applied at all");
    }

    #[test]
    fn without_openat2_a_swapped_folder_never_leads_outside_either() {
        let (escaped, written) = race(|root, _| {
            let r = Root { walk: true, ..Root::open(root).unwrap() };
            r.write(&parse("d/x.txt").unwrap(), b"x", 0o644).is_ok()
        });
        assert!(escaped.is_empty(), "written outside the root: {escaped:?} ({written} of 2000 batches applied)");
    }

    #[test]
    fn entries_are_refused_by_what_the_batch_holds_not_what_headers_claim() {
        let dir = tempfile::tempdir().unwrap();
        // A header claiming 2^60 bytes: refused by size, nothing allocated for it, nothing written.
        let mut h = tar::Header::new_gnu();
        h.set_path("huge.bin").unwrap();
        h.set_size(1 << 60);
        h.set_mode(0o644);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(b"0123456789");
        tar.resize(2048, 0);
        assert_eq!(
            apply_tar(dir.path(), &tar).unwrap_err(),
            "refusing 'huge.bin': its header claims 1152921504606846976 bytes, more than the 1536 left in the batch"
        );
        // A batch cut inside an entry.
        let whole = batch(&[("a.txt", &[b'a'; 1000], 0o644)]);
        let cut = &whole[..512 + 100];
        assert_eq!(
            apply_tar(dir.path(), cut).unwrap_err(),
            "refusing 'a.txt': its header claims 1000 bytes, more than the 100 left in the batch"
        );
        // Not a regular file.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_cksum();
        b.append_link(&mut h, "link", "/etc").unwrap();
        assert_eq!(
            apply_tar(dir.path(), &b.into_inner().unwrap()).unwrap_err(),
            "refusing 'link': only regular files are synced"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was written");
    }

    #[test]
    fn only_permission_bits_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let tar = batch(&[("suid", b"x", 0o4755), ("sgid", b"x", 0o2750), ("sticky", b"x", 0o1777)]);
        assert_eq!(apply_tar(dir.path(), &tar), Ok(3));
        let mode = |f: &str| std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode("suid"), mode("sgid"), mode("sticky")), (0o755, 0o750, 0o777));
    }

    #[test]
    fn deletion_removes_files_beneath_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("d/sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("d/a"), "a").unwrap();
        std::fs::write(outside.join("a"), "a").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        let del = |paths: &[&str]| delete(&root, &paths.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        assert_eq!(del(&["d/a", "out/a"]).unwrap_err(), "refusing path 'out/a': escapes the root through a symlink");
        assert!(root.join("d/a").exists(), "a refused batch deletes nothing");
        assert_eq!(del(&["d/sub"]).unwrap_err(), "cannot delete 'd/sub': it is a folder");
        assert_eq!(del(&["d/a", "d/gone", "nowhere/x"]), Ok(1));
        assert!(!root.join("d/a").exists());
        assert!(outside.join("a").exists());
    }

    #[test]
    fn a_check_reports_what_the_root_holds_and_reads_nothing_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("src/app.py"), "print(1)\n").unwrap();
        std::fs::set_permissions(root.join("src/app.py"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("link")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let file = |path: &str, size: u64| CheckFile { path: path.into(), size };
        let files = [
            file("src/app.py", 9),
            file("run.sh", 5),        // another size: not held
            file("missing.txt", 1),   // not there
            file("nowhere/x.txt", 1), // no such folder
            file("out/secret", 6),    // beneath a symlink that leaves the root
            file("link", 6),          // a symlink, not a regular file
            file("fifo", 0),          // not a regular file: neither held nor a hang
            file("run.sh", 10),
        ];
        let held = held(&root, &files).unwrap();
        let hex = |data: &[u8]| blake3::hash(data).to_hex().to_string();
        assert_eq!(
            held,
            vec![
                Held { index: 0, blake3: hex(b"print(1)\n"), mode: 0o640 },
                Held { index: 7, blake3: hex(b"#!/bin/sh\n"), mode: 0o755 },
            ]
        );
        for (wire, why) in [("/etc/passwd", "absolute"), ("src/../../x", "contains '..'")] {
            let err = super::held(&root, &[file("src/app.py", 9), file(wire, 1)]).unwrap_err();
            assert!(err.contains(why), "{wire}: {err}");
        }
    }

    #[test]
    fn temp_files_are_recognised_and_removed() {
        let name = temp_name(OsStr::new("app.py"));
        assert!(is_temp_name(name.as_bytes()), "{name:?}");
        assert!(is_temp_name(temp_name(OsStr::new(&"x".repeat(300))).as_bytes()));
        assert!(temp_name(OsStr::new(&"x".repeat(300))).len() <= 255);
        for n in
            ["app.py", ".app.py", ".devspaces-0123456789ab", "..devspaces-0123456789ab", ".a.devspaces-0123456789AB"]
        {
            assert!(!is_temp_name(n.as_bytes()), "{n}");
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        let outside_temp = dir.path().join("outside/.x.devspaces-0123456789ab");
        std::fs::write(&outside_temp, "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link")).unwrap();
        for f in [".app.py.devspaces-0123456789ab", "a/b/.c.devspaces-a1b2c3d4e5f6", "a/keep"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        std::fs::create_dir(root.join("a/.dir.devspaces-0123456789ab")).unwrap();
        assert_eq!(remove_temp_files(&root), Ok(2));
        assert!(root.join("a/keep").exists() && root.join("a/.dir.devspaces-0123456789ab").exists());
        assert!(outside_temp.exists(), "symlinks are not followed");
    }
}
