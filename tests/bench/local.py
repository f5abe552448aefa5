#!/usr/bin/env python3
"""Benchmark of devspaces' core loop on the embedded local backend (issue 2, "Done when" item 7).

Not a test: it measures and prints a Markdown table; a missed target is reported, not an error.
It exits non-zero only when something breaks (the binary fails to start, a wait times out, ...).

Measurements (see docs/benchmarks.md for the exact method):
  1. edit -> static change served (ms), app PID unchanged
  2. edit -> restarted app serving (ms), minus the app's own kill-and-start (and py_compile) time
  3. initial sync of 10k files (wall time to running, and the sync ms from the log line)
  4. daemon RSS (MB), idle CPU (%) and inotify watches on a 100k-file workspace whose
     node_modules (listed in .dockerignore) holds 90% of the files

Python 3 standard library only. Every generated workspace lives in one temp dir that is removed
at the end; every process started here is stopped by its PID. All traffic stays on 127.0.0.1.
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

from common import BENCH_APP, REPO

EXAMPLE = os.path.join(REPO, "examples", "python-web")

TARGET_STATIC_P50_MS = 5.0
TARGET_RESTART_OVERHEAD_P50_MS = 15.0
TARGET_IDLE_CPU_PCT = 0.1
TARGET_RSS_MB = 30.0

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Things worth a closer look that the run noticed (printed under the table).
OBSERVATIONS = []


class BenchError(Exception):
    pass


def note(msg):
    OBSERVATIONS.append(msg)
    log("NOTE: " + msg)


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def now_ns():
    return time.perf_counter_ns()


def ms_since(t0):
    return (time.perf_counter_ns() - t0) / 1e6


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def parse_time(s):
    """RFC 3339 UTC with up to nanoseconds ("2026-11-26T15:12:09.300314117Z") -> epoch seconds."""
    s = s.rstrip("Z")
    base, _, frac = s.partition(".")
    dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


# ---------------------------------------------------------------------------------------------
# HTTP (loopback only)


def http_get(port, path, timeout=2.0):
    """One GET on a fresh connection to 127.0.0.1:port; (status, body), or (None, b"") on error."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        c.close()


def poll_until(port, path, want, deadline_s=30.0, sess=None):
    """Polls GET path in a tight loop (no sleeps) until the body contains `want`.

    With sess, a crashed or failed service ends the wait early (checked every 200 polls).
    Returns (perf_counter_ns at the first matching response, polls made)."""
    want = want.encode() if isinstance(want, str) else want
    end = time.monotonic() + deadline_s
    n = 0
    while True:
        status, body = http_get(port, path)
        n += 1
        if status == 200 and want in body:
            return now_ns(), n
        if sess is not None and n % 200 == 0:
            sess.check_alive()
        if time.monotonic() > end:
            raise BenchError("GET %s on port %d never returned %r within %.0f s (last status %s, body %r)"
                             % (path, port, want, deadline_s, status, body[:200]))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------------------------------------
# /proc helpers


def proc_stat(pid):
    """(ppid, utime+stime ticks, starttime) from /proc/<pid>/stat, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[19])


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def read_entries(folder, rel=None):
    """{entry: text of folder/entry (or folder/entry/rel)} for each entry of `folder` whose file
    could be read (a thread or an fd may be gone meanwhile); None when `folder` cannot be listed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    out = {}
    for name in names:
        try:
            with open(os.path.join(folder, name, rel) if rel else os.path.join(folder, name)) as f:
                out[name] = f.read()
        except OSError:
            pass
    return out


def cpu_ns_by_thread(pid):
    """{tid: on-CPU ns} from /proc/<pid>/task/*/schedstat: finer than clock ticks."""
    stats = read_entries("/proc/%d/task" % pid, "schedstat") or {}
    return {tid: int(text.split()[0]) for tid, text in stats.items()}


def inotify_watches(pid):
    infos = read_entries("/proc/%d/fdinfo" % pid)
    if infos is None:
        return None
    return sum(1 for text in infos.values() for line in text.splitlines() if line.startswith("inotify wd:"))


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root):
    """{pid: starttime} of every live descendant of root."""
    children = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st:
            children.setdefault(st[0], []).append((pid, st[2]))
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        for c, start in children.get(p, []):
            if c not in out:
                out[c] = start
                todo.append(c)
    return out


def alive(pid, starttime):
    st = proc_stat(pid)
    if st is None or st[2] != starttime:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def signal_alive(procs, sig):
    """Sends sig to each (pid, starttime) still alive; a PID reused by another process is spared."""
    for pid, starttime in procs:
        if alive(pid, starttime):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------------------------------------
# A `devspacesd up --json` session


class Session:
    """Runs `devspacesd up DIR --json` with its own state dir and TMPDIR.

    stdout goes to a file (no reader thread competes with the tight polling loops for the GIL);
    events() reads the lines written since the last call."""

    def __init__(self, binary, service_dir, work, name, extra_args=(), extra_env=None):
        self.service_dir = service_dir
        self.dir = os.path.join(work, "session-" + name)
        os.makedirs(os.path.join(self.dir, "state"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        self.out_path = os.path.join(self.dir, "stdout.jsonl")
        self.err_path = os.path.join(self.dir, "stderr.txt")
        env = dict(os.environ)
        env["DEVSPACES_STATE_DIR"] = os.path.join(self.dir, "state")
        env["TMPDIR"] = os.path.join(self.dir, "tmp")
        env.pop("NO_COLOR", None)
        env.update(extra_env or {})
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self._rd = open(self.out_path, "rb")
        self._buf = b""
        self.all = []
        self.traces = 0
        self.cursor = 0  # self.all[:cursor] were examined by wait_for
        self.start_wall = time.time()
        self.start_ns = now_ns()
        self.proc = subprocess.Popen([binary, "up", service_dir, "--json"] + list(extra_args),
                                     stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid
        self.port = None
        self.app_pid = None
        self.known_children = {}

    def events(self):
        chunk = self._rd.read()
        if chunk:
            self._buf += chunk
        new = []
        if b"\n" not in self._buf:
            return new
        lines = self._buf.split(b"\n")
        self._buf = lines.pop()
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if b'"devspaces/trace"' in line:
                self.traces += 1  # one per proxied request: counted, not kept
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"method": "?", "params": {"raw": line.decode("utf-8", "replace")}}
            ev["_rx_ns"] = now_ns()
            new.append(ev)
            self._track(ev)
        self.all.extend(new)
        return new

    def _track(self, ev):
        m, p = ev.get("method"), ev.get("params", {})
        if m == "devspaces/portForward" and p.get("state") == "open":
            self.port = int(p["localPort"])
            url = p.get("url", "")
            if url != "http://localhost:%d" % self.port:
                note("portForward url %r does not match localPort %d" % (url, self.port))
        if m == "devspaces/serviceStatus" and p.get("phase") == "running":
            d = p.get("detail", "")
            if d.startswith("pid "):
                self.app_pid = int(d.split()[1])

    def check_alive(self):
        for ev in self.all[self.cursor:] + self.events():
            p = ev.get("params", {})
            if ev.get("method") == "devspaces/serviceStatus" and p.get("phase") in ("failed", "crashed"):
                raise BenchError("service %s: %s" % (p.get("phase"), json.dumps(p)[:1500]))
        if self.proc.poll() is not None:
            raise BenchError("devspacesd up exited (code %s); stderr: %s" % (self.proc.returncode, self.stderr()[-2000:]))

    def wait_for(self, pred, timeout=60.0, what="event", poll_s=0.001):
        """Waits for an event not yet examined by a wait that satisfies pred; returns it."""
        end = time.monotonic() + timeout
        while True:
            self.events()
            while self.cursor < len(self.all):
                ev = self.all[self.cursor]
                self.cursor += 1
                if pred(ev):
                    return ev
            if self.proc.poll() is not None:
                self.events()
                raise BenchError("devspacesd up exited (code %s) while waiting for %s; stderr: %s; last events: %s"
                                 % (self.proc.returncode, what, self.stderr()[-2000:],
                                    [e.get("params") for e in self.all[-5:]]))
            if time.monotonic() > end:
                raise BenchError("timed out after %.0f s waiting for %s; last events: %s"
                                 % (timeout, what, [e.get("params") for e in self.all[-8:]]))
            time.sleep(poll_s)

    def wait_running(self, timeout=120.0, other_than=None):
        def pred(ev):
            p = ev.get("params", {})
            if ev.get("method") == "devspaces/serviceStatus":
                if p.get("phase") in ("failed", "crashed"):
                    raise BenchError("service %s: %s" % (p.get("phase"), json.dumps(p)[:1500]))
                if p.get("phase") == "running" and p.get("detail", "").startswith("pid "):
                    return other_than is None or int(p["detail"].split()[1]) != other_than
            return False
        ev = self.wait_for(pred, timeout, "phase running")
        if self.port is None:
            self.wait_for(lambda e: e.get("method") == "devspaces/portForward", 10, "portForward")
        self.remember_children()
        return ev

    def remember_children(self):
        self.known_children.update(descendants(self.pid))

    def find(self, word):
        """The descendant of `up` whose cmdline has ` word ` (`up` → daemon → agent → app when
        `up` is a client of the shared daemon; `up` → agent → app when it runs in-process)."""
        for pid in sorted(descendants(self.pid)):
            if " %s " % word in " " + proc_cmdline(pid) + " ":
                return pid
        return None

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=20.0):
        """SIGINT (Ctrl-C) by PID, wait; then make sure no agent or app was left behind."""
        if self.proc.poll() is None:
            self.remember_children()
            t0 = now_ns()
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
                stop_ms = ms_since(t0)
                if stop_ms > 2000:
                    note("`up` took %.0f ms to exit after SIGINT" % stop_ms)
            except subprocess.TimeoutExpired:
                note("`up` (pid %d) did not exit %.0f s after SIGINT; sent SIGKILL" % (self.pid, timeout))
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.events()
        time.sleep(0.5)
        # The shared daemon outlives `up` by design (it exits after 10 idle minutes); this run's
        # daemon has its own state dir, so stop it by PID. Anything else left is a finding.
        daemons = [(p, s) for p, s in self.known_children.items()
                   if alive(p, s) and " daemon " in " " + proc_cmdline(p) + " "]
        left = [(p, s) for p, s in self.known_children.items() if alive(p, s) and (p, s) not in daemons]
        if left:
            note("left behind 0.5 s after `up` exited: %s" % ", ".join("%d (%s)" % (p, proc_cmdline(p)[:80]) for p, _ in left))
        signal_alive(daemons, signal.SIGTERM)
        end = time.monotonic() + 10
        while time.monotonic() < end and any(alive(p, s) for p, s in daemons):
            time.sleep(0.05)
        left += [(p, s) for p, s in daemons if alive(p, s)]
        if left:
            signal_alive(left, signal.SIGTERM)
            time.sleep(1)
            signal_alive(left, signal.SIGKILL)
        for f in (self._out, self._err, self._rd):
            f.close()


# ---------------------------------------------------------------------------------------------
# Fixtures


def copy_example(work, name, drop_build_commands=False):
    dst = os.path.join(work, name)
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "values.dev.yaml",
                                                               "secrets.dev.yaml"))
    if drop_build_commands:
        path = os.path.join(dst, "azds.yaml")
        with open(path) as f:
            lines = f.read().split("\n")
        out, skipping, indent = [], False, 0
        for line in lines:
            stripped = line.lstrip()
            if skipping:
                ind = len(line) - len(stripped)
                if (stripped and ind > indent) or (stripped.startswith("- ") and ind >= indent):
                    continue  # the list under buildCommands
                skipping = False
            if stripped.startswith("buildCommands:"):
                skipping, indent = True, len(line) - len(stripped)
                continue
            out.append(line)
        text = "\n".join(out)
        if "buildCommands" in text or "py_compile" in text:
            raise BenchError("could not remove buildCommands from %s" % path)
        with open(path, "w") as f:
            f.write(text)
    return dst


GEN_AZDS = '''kind: helm-release
apiVersion: 1.1
build:
  context: .
  dockerfile: Dockerfile
install:
  chart: charts/python-web
  set:
    image:
      repository: %(name)s
      tag: $(tag)
      pullPolicy: Never
configurations:
  develop:
    build:
      dockerfile: Dockerfile.develop
    container:
      sync:
      - "**/*"
      - "!**/*.md"
'''

# EXPOSE as real develop Dockerfiles have it: the forward prefers 8080 and falls back to any free
# port when 8080 is taken; the app gets its own free port through PORT.
GEN_DOCKERFILE = '''FROM python:3.12-slim
WORKDIR /app
COPY . .
EXPOSE 8080
CMD ["python3", "server.py"]
'''

GEN_DOCKERIGNORE = '''.git
.dockerignore
charts/
azds.yaml
Dockerfile*
node_modules
'''


def generate_service(work, name, src_dirs, src_files_per_dir, nm_packages=0, nm_files_per_package=0):
    """A generated service: azds.yaml with sync rules, Dockerfile.develop whose CMD is server.py (the
    benchmarks' app, answering "ok"), src/dNNN/fNNN.txt small files, optionally node_modules/pNNNN/... files."""
    root = os.path.join(work, name)
    os.makedirs(root)
    shutil.copytree(os.path.join(EXAMPLE, "charts"), os.path.join(root, "charts"))
    with open(BENCH_APP) as f:
        server_py = f.read()
    files = {
        "azds.yaml": GEN_AZDS % {"name": name},
        "Dockerfile": GEN_DOCKERFILE,
        "Dockerfile.develop": GEN_DOCKERFILE,
        ".dockerignore": GEN_DOCKERIGNORE,
        "server.py": server_py,
    }
    for rel, text in files.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    payload = "x" * 64 + "\n"
    for d in range(src_dirs):
        dd = os.path.join(root, "src", "d%03d" % d)
        os.makedirs(dd)
        for i in range(src_files_per_dir):
            with open(os.path.join(dd, "f%03d.txt" % i), "w") as f:
                f.write("%d/%d %s" % (d, i, payload))
    nm_dirs = 0
    for p in range(nm_packages):
        pd = os.path.join(root, "node_modules", "p%04d" % p)
        os.makedirs(os.path.join(pd, "lib"))
        nm_dirs += 2
        with open(os.path.join(pd, "package.json"), "w") as f:
            f.write('{"name": "p%04d", "version": "1.0.0", "main": "index.js"}\n' % p)
        with open(os.path.join(pd, "index.js"), "w") as f:
            f.write("module.exports = require('./lib/f000.js');\n")
        for i in range(nm_files_per_package - 2):
            with open(os.path.join(pd, "lib", "f%03d.js" % i), "w") as f:
                f.write("module.exports = %d;\n" % i)
    total = len(files) + src_dirs * src_files_per_dir + nm_packages * nm_files_per_package
    kept_dirs = 1 + 1 + src_dirs  # root, src, src/dNNN (charts/ is outside the build context)
    return root, total, kept_dirs, nm_dirs


# ---------------------------------------------------------------------------------------------
# Measurements


def write_file(path, text):
    """An in-place save (open, one write, close), as most editors do."""
    with open(path, "w") as f:
        f.write(text)


def drain_quiet(sess, quiet_s=0.05, max_s=3.0):
    """Reads events until none arrived for quiet_s."""
    end = time.monotonic() + max_s
    last = time.monotonic()
    while time.monotonic() < end:
        if sess.events():
            last = time.monotonic()
        elif time.monotonic() - last >= quiet_s:
            return
        time.sleep(0.002)


def measure_roundtrip(port, path, n=200):
    out = []
    for _ in range(n):
        t0 = now_ns()
        status, _ = http_get(port, path)
        if status == 200:
            out.append(ms_since(t0))
    return out


def bench_static(binary, work, n, warmup):
    svc = copy_example(work, "static-svc")
    css = os.path.join(svc, "static", "style.css")
    with open(css) as f:
        original = f.read()
    sess = Session(binary, svc, work, "static")
    try:
        sess.wait_running()
        pid0 = sess.app_pid
        port = sess.port
        poll_until(port, "/static/style.css", original[:40])
        rt = measure_roundtrip(port, "/static/style.css")
        drain_quiet(sess)
        times, polls = [], []
        restarts_seen = 0
        synced_static = 0
        sync_ms = []
        for i in range(warmup + n):
            marker = "bench-%d-%s" % (i, uuid.uuid4().hex)
            t0 = now_ns()
            write_file(css, original + "/* %s */\n" % marker)
            t1, k = poll_until(port, "/static/style.css", marker, sess=sess)
            if i >= warmup:
                times.append((t1 - t0) / 1e6)
                polls.append(k)
            drain_quiet(sess)
        for ev in sess.all:
            p = ev.get("params", {})
            if ev.get("method") == "devspaces/serviceStatus" and p.get("phase") == "restarting":
                restarts_seen += 1
            if ev.get("method") == "devspaces/synced" and p.get("class") == "static-sync":
                synced_static += 1
                sync_ms.append(float(p.get("durationMs", 0)))
        pid_same = sess.app_pid == pid0 and proc_stat(pid0) is not None
        if not pid_same:
            note("static edits changed the app PID (%s -> %s)" % (pid0, sess.app_pid))
        if restarts_seen:
            note("static edits caused %d `restarting` status events" % restarts_seen)
        if synced_static != warmup + n:
            note("%d static edits (in-place writes) produced %d static-sync `synced` events"
                 % (warmup + n, synced_static))
        return {"times": times, "polls": polls, "roundtrip": rt, "pid_same": pid_same, "pid": pid0,
                "synced_events": synced_static, "edits": warmup + n,
                "sync_ms": sync_ms}
    finally:
        sess.stop()


class Baseline:
    """The app's own kill-and-start, without devspaces, on a copy of the example.

    One round: edit version.py (a new version string), then from just before SIGTERM to the
    serving app A until the next app B (same folder, same PORT, spawned as soon as A has exited)
    first answers GET /version with the new version. That is A's stop + B's exec, interpreter
    start, imports (recompiling the edited version.py) and bind + the first poll that lands."""

    def __init__(self, work):
        self.svc = copy_example(work, "baseline-svc")
        self.ver = os.path.join(self.svc, "version.py")
        self.port = free_port()
        self.env = dict(os.environ, PORT=str(self.port), PYTHONUNBUFFERED="1")
        self.i = 0
        self.app = self.spawn()
        poll_until(self.port, "/version", "1.0.0")

    def spawn(self):
        return subprocess.Popen(["python3", "app.py"], cwd=self.svc, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def once(self):
        """(total ms, stop ms)."""
        self.i += 1
        version = "base-%d-%s" % (self.i, uuid.uuid4().hex[:12])
        write_file(self.ver, 'VERSION = "%s"\n' % version)
        t0 = now_ns()
        self.app.send_signal(signal.SIGTERM)
        self.app.wait(10)
        t_exit = now_ns()
        self.app = self.spawn()
        t1, _ = poll_until(self.port, "/version", version + "\n")
        return (t1 - t0) / 1e6, (t_exit - t0) / 1e6

    def py_compile_once(self):
        """The example's buildCommand alone, after an edit of version.py (ms)."""
        write_file(self.ver, 'VERSION = "pc-%d-%s"\n' % (self.i, uuid.uuid4().hex[:8]))
        t0 = now_ns()
        subprocess.run(["python3", "-m", "py_compile", "app.py", "version.py"], cwd=self.svc, check=True)
        return ms_since(t0)

    def close(self):
        if self.app.poll() is None:
            self.app.send_signal(signal.SIGTERM)
            try:
                self.app.wait(10)
            except subprocess.TimeoutExpired:
                self.app.kill()
                self.app.wait()


def bench_restart(binary, work, n, warmup, name, drop_build_commands, baseline):
    """Edit version.py, poll /version until the new version is served. Each round is followed by
    one baseline kill-and-start (and, with buildCommands, one py_compile) so that both see the
    same machine load."""
    svc = copy_example(work, name, drop_build_commands=drop_build_commands)
    ver = os.path.join(svc, "version.py")
    sess = Session(binary, svc, work, name)
    try:
        sess.wait_running()
        port = sess.port
        poll_until(port, "/version", "1.0.0")
        drain_quiet(sess, 0.2)
        times, base, stop, pyc, pids = [], [], [], [], set([sess.app_pid])
        to_build, to_started, started_to_served, polls = [], [], [], []
        ours = [p for p in (sess.pid, sess.find("daemon"), sess.find("agent")) if p]
        cpu0 = sum(proc_stat(p)[1] for p in ours)
        extra_restarts = 0
        for i in range(warmup + n):
            version = "bench-%d-%s" % (i, uuid.uuid4().hex[:12])
            before = len(sess.all)
            old_pid = sess.app_pid
            w0 = time.time()
            t0 = now_ns()
            write_file(ver, '# The version string python-web shows; editing it is a process restart.\nVERSION = "%s"\n' % version)
            t1, npoll = poll_until(port, "/version", version + "\n", sess=sess)
            dt = (t1 - t0) / 1e6
            sess.wait_running(timeout=10, other_than=old_pid)
            drain_quiet(sess, 0.1)
            if sess.app_pid in pids:
                note("%s: edit %d did not change the app PID (%s)" % (name, i, sess.app_pid))
            pids.add(sess.app_pid)
            r = sum(1 for ev in sess.all[before:] if ev.get("method") == "devspaces/serviceStatus"
                    and ev["params"].get("phase") == "restarting")
            if r != 1:
                extra_restarts += 1
                note("%s: edit %d produced %d `restarting` statuses (phases this round: %s)"
                     % (name, i, r, [e["params"].get("phase") for e in sess.all[before:]
                                     if e.get("method") == "devspaces/serviceStatus"]))
            # Where the time went, from the daemon's timestamped log lines of this round.
            marks = {}
            for ev in sess.all[before:]:
                p = ev.get("params", {})
                if ev.get("method") != "devspaces/log" or "time" not in p:
                    continue
                line = p.get("line", "")
                if p.get("stream") == "build" and line.startswith("$ ") and "build" not in marks:
                    marks["build"] = (parse_time(p["time"]) - w0) * 1000
                if p.get("stream") == "system" and line.startswith("started '") and "started" not in marks:
                    marks["started"] = (parse_time(p["time"]) - w0) * 1000
            b_total, b_stop = baseline.once()
            c = baseline.py_compile_once() if not drop_build_commands else None
            if i >= warmup:
                times.append(dt)
                polls.append(npoll)
                if "build" in marks:
                    to_build.append(marks["build"])
                if "started" in marks:
                    to_started.append(marks["started"])
                    started_to_served.append(dt - marks["started"])
                base.append(b_total)
                stop.append(b_stop)
                if c is not None:
                    pyc.append(c)
        cpu_ms_per_round = (sum((proc_stat(p) or (0, 0, 0))[1] for p in ours) - cpu0) / CLK_TCK * 1000 / (warmup + n)
        if extra_restarts:
            note("%s: %d of %d edits did not produce exactly one `restarting` status" % (name, extra_restarts, warmup + n))
        build_logs = sum(1 for ev in sess.all if ev.get("method") == "devspaces/log" and ev["params"].get("stream") == "build")
        if not drop_build_commands and build_logs < warmup + n:
            note("%s: only %d build log lines for %d restarts" % (name, build_logs, warmup + n))
        own = [b + (pyc[k] if pyc else 0.0) for k, b in enumerate(base)]
        return {"times": times, "base": base, "stop": stop, "pyc": pyc, "own": own,
                "paired": [t - o for t, o in zip(times, own)], "build_logs": build_logs,
                "to_build": to_build, "to_started": to_started, "started_to_served": started_to_served,
                "polls": polls, "cpu_ms_per_round": cpu_ms_per_round}
    finally:
        sess.stop()


SYNC_RE = re.compile(r"^Synchronizing files\.\.\.(\w+): (\d+) sent, (\d+) deleted, (.*) in ([\d.]+) ms")


def sync_line(sess):
    for ev in sess.all:
        p = ev.get("params", {})
        if ev.get("method") == "devspaces/log" and p.get("line", "").startswith("Synchronizing files..."):
            return ev
    return None


def bench_initial_sync(binary, work, runs):
    svc, total, _, _ = generate_service(work, "gen10k", 100, 100)
    log("generated %s: %d files" % (svc, total))
    to_line, to_running, to_serving, sync_ms, cpu_s, cpu_by = [], [], [], [], [], {}
    one_file_ms, synclog_bytes = [], 0
    sent = None
    # The machine's own floor for creating these files: `tar -x` of the same tree into a fresh
    # folder, once before each run (file creation speed on a shared VM drifts between runs).
    floor, ratio = [], []
    archive = os.path.join(work, "gen10k.tar")
    have_tar = shutil.which("tar") is not None
    if have_tar:
        subprocess.run(["tar", "-cf", archive, "-C", svc, "."], check=True)
    for i in range(runs):
        if have_tar:
            dst = os.path.join(work, "untar-%d" % i)
            os.makedirs(dst)
            t0 = now_ns()
            subprocess.run(["tar", "-xf", archive, "-C", dst], check=True)
            floor.append(ms_since(t0) / 1000)
            shutil.rmtree(dst, ignore_errors=True)
        sess = Session(binary, svc, work, "sync10k-%d" % i)
        try:
            ev = sess.wait_for(lambda e: e.get("method") == "devspaces/log"
                               and e["params"].get("line", "").startswith("Synchronizing files..."), 300, "sync line")
            line = ev["params"]["line"]
            m = SYNC_RE.match(line)
            if not m:
                raise BenchError("unexpected sync line: %r" % line)
            if m.group(1) != "full":
                note("initial sync run %d was not full: %r" % (i, line))
            sent = int(m.group(2))
            sync_ms.append(float(m.group(5)))
            if have_tar:
                ratio.append(float(m.group(5)) / 1000 / floor[-1])
            if "time" in ev["params"]:
                to_line.append(parse_time(ev["params"]["time"]) - sess.start_wall)
            else:
                to_line.append((ev["_rx_ns"] - sess.start_ns) / 1e9)
            run_ev = sess.wait_running(timeout=300)
            to_running.append((run_ev["_rx_ns"] - sess.start_ns) / 1e9)
            ticks = 0
            for word, pid in (("up", sess.pid), ("daemon", sess.find("daemon")), ("agent", sess.find("agent"))):
                st = proc_stat(pid) if pid else None
                if st:
                    ticks += st[1]
                    cpu_by.setdefault(word, []).append(st[1] / CLK_TCK)
            cpu_s.append(ticks / CLK_TCK)
            t1, _ = poll_until(sess.port, "/", "ok", 60, sess=sess)
            to_serving.append((t1 - sess.start_ns) / 1e9)
            if i == runs - 1:
                # One-file edits in this 10k-file service: the daemon's per-batch sync step
                # (`synced` durationMs), to compare with the same step in the 7-file example.
                drain_quiet(sess, 0.2)
                target = os.path.join(svc, "src", "d050", "f050.txt")
                for k in range(12):
                    cursor = len(sess.all)
                    write_file(target, "edit %d %s\n" % (k, uuid.uuid4().hex))
                    sess.cursor = cursor
                    ev = sess.wait_for(lambda e: e.get("method") == "devspaces/synced", 30, "synced after a one-file edit")
                    sess.wait_running(timeout=30)
                    drain_quiet(sess, 0.1)
                    if k >= 2:
                        one_file_ms.append(float(ev["params"].get("durationMs", 0)))
                logs = os.path.join(sess.dir, "tmp", "devspaces-%d" % os.getuid())
                synclog_bytes = sum(os.path.getsize(os.path.join(logs, f))
                                    for f in os.listdir(logs) if f.endswith(".synclog"))
        finally:
            sess.stop()
        shutil.rmtree(sess.dir, ignore_errors=True)
    if have_tar:
        os.remove(archive)
    return {"one_file_ms": one_file_ms, "synclog_bytes": synclog_bytes, "floor": floor, "ratio": ratio, "files": total, "sent": sent, "to_line": to_line, "to_running": to_running,
            "to_serving": to_serving, "sync_ms": sync_ms, "cpu_s": cpu_s, "cpu_by": cpu_by}


def cpu_window(pids, seconds):
    """Samples each pid for `seconds`: RSS every second, CPU as the utime+stime delta (ticks, which
    also count threads that exit) and as the schedstat ns delta of threads alive at both ends."""
    first = {k: (proc_stat(p)[1], cpu_ns_by_thread(p)) for k, p in pids.items()}
    rss = {k: [] for k in pids}
    wall0 = time.monotonic()
    for _ in range(max(1, int(seconds))):
        time.sleep(1.0)
        for k, p in pids.items():
            r = rss_kb(p)
            if r is not None:
                rss[k].append(r / 1024.0)
    wall = time.monotonic() - wall0
    out = {}
    for k, p in pids.items():
        st = proc_stat(p)
        if st is None:
            raise BenchError("%s process %d went away during the idle window" % (k, p))
        ns0, ns1 = first[k][1], cpu_ns_by_thread(p)
        ns = sum(v - ns0[t] for t, v in ns1.items() if t in ns0)
        out[k] = {
            "pid": p, "window_s": wall,
            "rss_p50": pct(rss[k], 50), "rss_max": max(rss[k]),
            "cpu_pct_ticks": (st[1] - first[k][0]) / CLK_TCK / wall * 100.0,
            "cpu_pct_ns": ns / 1e9 / wall * 100.0,
            "watches": inotify_watches(p),
            "threads": len(os.listdir("/proc/%d/task" % p)),
        }
    return out


# `--scale`: (label, kept folders of 100 files, node_modules packages of 100 files, daemon RSS target).
SCALES = {"100k": ("100k", 100, 900, TARGET_RSS_MB), "1m": ("1,000,000", 1000, 9000, 64.0)}


def bench_idle(binary, work, idle_s, settle_s, steady_s, scale="100k"):
    label, src_dirs, packages, rss_target = SCALES[scale]
    t0 = time.monotonic()
    svc, total, kept_dirs, nm_dirs = generate_service(work, "gen" + scale, src_dirs, 100, nm_packages=packages,
                                                      nm_files_per_package=100)
    nm_files = packages * 100
    gen_s = time.monotonic() - t0
    log("generated %s: %d files (%d in node_modules) in %.1f s" % (svc, total, nm_files, gen_s))
    sess = Session(binary, svc, work, "idle" + scale)
    try:
        run_ev = sess.wait_running(timeout=600)
        to_running = (run_ev["_rx_ns"] - sess.start_ns) / 1e9
        line_ev = sync_line(sess)
        sync_text = line_ev["params"]["line"] if line_ev else "(none)"
        poll_until(sess.port, "/", "ok", 60, sess=sess)
        time.sleep(settle_s)
        sess.remember_children()
        pids = {"up": sess.pid}
        for word in ("daemon", "agent"):
            pid = sess.find(word)
            if pid:
                pids[word] = pid
        if "agent" not in pids:
            note("no descendant of `up` (pid %d) with ' agent ' in its cmdline was found" % sess.pid)
        res_pids = dict(pids)
        sess.events()
        seen = len(sess.all)
        log("idle window 1: %.0f s" % idle_s)
        res = {"files": total, "nm_files": nm_files, "kept_dirs": kept_dirs, "nm_dirs": nm_dirs,
               "to_running": to_running, "sync_line": sync_text, "settle_s": settle_s,
               "procs": cpu_window(pids, idle_s), "pids": res_pids, "label": label,
               "rss_target": rss_target}
        if steady_s > 0:
            log("idle window 2: %.0f s" % steady_s)
            res["steady"] = cpu_window(pids, steady_s)
            res["steady_start_s"] = settle_s + idle_s
        sess.events()
        idle_events = sess.all[seen:]
        if idle_events:
            note("events during the idle windows: %s" % [e.get("params") for e in idle_events[:5]])
        # Then one-file edits in the big tree: save -> the `synced` event reaching `up`.
        edits = []
        target = os.path.join(svc, "src", "d000", "f000.txt")
        for i in range(10):
            t_edit = now_ns()
            with open(target, "w") as f:
                f.write("edit %d\n" % i)
            ev = sess.wait_for(lambda e: e.get("method") == "devspaces/synced", 60, "synced after an edit")
            edits.append((ev["_rx_ns"] - t_edit) / 1e6)
            time.sleep(0.2)
        res["edit_ms"] = edits
        return res
    finally:
        sess.stop()


# ---------------------------------------------------------------------------------------------
# Report


def fmt(v, d=1):
    return "—" if v is None else ("%.*f" % (d, v))


def met(ok):
    return "yes" if ok else "**no**"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "daemon", "protocol"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " (daemon/ or protocol/ had uncommitted changes)"
    except OSError:
        commit = "?"
    return "%s, %d CPUs, Linux %s, Python %s, commit %s" % (cpu, os.cpu_count(), platform.release(),
                                                           platform.python_version(), commit)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def report(r, args):
    L = []
    L.append("Local backend, `devspacesd up --json` (release build), %s. N = %d per latency measurement "
             "(after %d warm-up), nearest-rank percentiles." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                                args.n, args.warmup))
    L.append("")
    L.append("Machine: %s. Load average (1/5/15 min) at start %s, at end %s: on a shared machine, "
             "latencies include the other load." % (machine(), r.get("load_start", "?"), loadavg()))
    L.append("")
    L.append("| Measurement | p50 | p90 | Target | Met |")
    L.append("|---|---|---|---|---|")
    s = r.get("static")
    if s:
        p50 = pct(s["times"], 50)
        L.append("| Edit → static change served (ms) | %s | %s | p50 ≤ %.0f ms | %s |"
                 % (fmt(p50, 1), fmt(pct(s["times"], 90), 1), TARGET_STATIC_P50_MS, met(p50 <= TARGET_STATIC_P50_MS)))
        L.append("| … app PID unchanged over %d static edits | %s | | same PID | %s |"
                 % (s["edits"], "yes" if s["pid_same"] else "no", met(s["pid_same"])))
        if s["sync_ms"]:
            L.append("| … `synced` event's durationMs (daemon's own sync step, ms) | %s | %s | | |"
                     % (fmt(pct(s["sync_ms"], 50), 1), fmt(pct(s["sync_ms"], 90), 1)))
        L.append("| … one poll round trip through the forward (ms, resolution) | %s | %s | | |"
                 % (fmt(pct(s["roundtrip"], 50), 2), fmt(pct(s["roundtrip"], 90), 2)))
    for key, title, own_title in (
            ("restart", "example as shipped (buildCommands: py_compile)", "kill-and-start + py_compile"),
            ("restart_nobuild", "variant without buildCommands", "kill-and-start")):
        rb = r.get(key)
        if not rb:
            continue
        L.append("| Edit → restarted app serving, %s (ms) | %s | %s | | |"
                 % (title, fmt(pct(rb["times"], 50)), fmt(pct(rb["times"], 90))))
        L.append("| … app's own kill-and-start without devspaces, same rounds (ms) | %s | %s | | |"
                 % (fmt(pct(rb["base"], 50)), fmt(pct(rb["base"], 90))))
        L.append("| … … of which the old app's stop, SIGTERM → exit (ms) | %s | %s | | |"
                 % (fmt(pct(rb["stop"], 50)), fmt(pct(rb["stop"], 90))))
        if rb["pyc"]:
            L.append("| … `python3 -m py_compile app.py version.py` alone, same rounds (ms) | %s | %s | | |"
                     % (fmt(pct(rb["pyc"], 50)), fmt(pct(rb["pyc"], 90))))
        own50 = pct(rb["own"], 50)
        p50 = pct(rb["times"], 50) - own50
        L.append("| **… restart minus the app's own %s (ms)** | %s | %s | p50 ≤ %.0f ms | %s |"
                 % (own_title, fmt(p50), fmt(pct(rb["times"], 90) - own50), TARGET_RESTART_OVERHEAD_P50_MS,
                    met(p50 <= TARGET_RESTART_OVERHEAD_P50_MS)))
        L.append("| … the same, as per-round differences (ms) | %s | %s | | |"
                 % (fmt(pct(rb["paired"], 50)), fmt(pct(rb["paired"], 90))))
        if rb.get("to_build"):
            L.append("| … breakdown: save → build command starts (detect, sync, stop old app, processesToKill) (ms) | %s | %s | | |"
                     % (fmt(pct(rb["to_build"], 50)), fmt(pct(rb["to_build"], 90))))
        if rb.get("to_started"):
            L.append("| … breakdown: save → new app spawned (ms) | %s | %s | | |"
                     % (fmt(pct(rb["to_started"], 50)), fmt(pct(rb["to_started"], 90))))
            L.append("| … breakdown: new app spawned → new version served (ms) | %s | %s | | |"
                     % (fmt(pct(rb["started_to_served"], 50)), fmt(pct(rb["started_to_served"], 90))))
            starts = [t - st for t, st in zip(rb["base"], rb["stop"])]
            L.append("| … polls per round (each a request through the forward and a `trace` event) | %s | %s | | |"
                     % (pct(rb["polls"], 50), pct(rb["polls"], 90)))
            L.append("| … CPU of up + daemon + agent per round, including the baseline's share of wall time (ms) | %s | | | |"
                     % fmt(rb["cpu_ms_per_round"]))
            L.append("| … compare: the app's own start without devspaces, spawn → serving (ms) | %s | %s | | |"
                     % (fmt(pct(starts, 50)), fmt(pct(starts, 90))))
    sy = r.get("sync")
    if sy:
        n_runs = len(sy["to_running"])
        L.append("| Initial sync of 10k files: sync time from the log line (s), %d runs, %s files sent | %s | %s | | |"
                 % (n_runs, sy["sent"], fmt(pct(sy["sync_ms"], 50) / 1000, 2), fmt(pct(sy["sync_ms"], 90) / 1000, 2)))
        L.append("| … process start → `Synchronizing files...` line (s) | %s | %s | | |"
                 % (fmt(pct(sy["to_line"], 50), 2), fmt(pct(sy["to_line"], 90), 2)))
        L.append("| … process start → phase running (s) | %s | %s | | |"
                 % (fmt(pct(sy["to_running"], 50), 2), fmt(pct(sy["to_running"], 90), 2)))
        L.append("| … process start → first 200 through the forward (s) | %s | %s | | |"
                 % (fmt(pct(sy["to_serving"], 50), 2), fmt(pct(sy["to_serving"], 90), 2)))
        L.append("| … CPU time of up + daemon + agent until running (s; load-independent) | %s | %s | | |"
                 % (fmt(pct(sy["cpu_s"], 50), 2), fmt(pct(sy["cpu_s"], 90), 2)))
        for word, vals in sorted(sy["cpu_by"].items()):
            L.append("| … … of which %s (s) | %s | %s | | |" % (word, fmt(pct(vals, 50), 2), fmt(pct(vals, 90), 2)))
        if sy["floor"]:
            L.append("| … floor: `tar -x` of the same %d files into a fresh folder, before each run (s) | %s | %s | | |"
                     % (sy["files"], fmt(pct(sy["floor"], 50), 2), fmt(pct(sy["floor"], 90), 2)))
            L.append("| … sync time ÷ that run's `tar -x` floor | %s | %s | | |"
                     % (fmt(pct(sy["ratio"], 50), 2), fmt(pct(sy["ratio"], 90), 2)))
        if sy["one_file_ms"]:
            L.append("| … then a one-file edit in this 10k-file service: `synced` durationMs (ms; %d edits; synclog %.1f MB) | %s | %s | | |"
                     % (len(sy["one_file_ms"]), sy["synclog_bytes"] / 1e6, fmt(pct(sy["one_file_ms"], 50), 1),
                        fmt(pct(sy["one_file_ms"], 90), 1)))
    idle = r.get("idle")
    if idle:
        windows = [("%.0f–%.0f s after running" % (idle["settle_s"], idle["settle_s"] + idle["procs"]["up"]["window_s"]),
                    idle["procs"], True)]
        if idle.get("steady"):
            st = idle["steady"]["up"]
            windows.append(("%.0f–%.0f s after running" % (idle["steady_start_s"], idle["steady_start_s"] + st["window_s"]),
                            idle["steady"], False))
        judged = "daemon" if "daemon" in idle["procs"] else "up"
        for k, label in (("daemon", "`devspacesd daemon`"), ("up", "`devspacesd up`"), ("agent", "agent")):
            for wname, procs, primary in windows:
                p = procs.get(k)
                if not p:
                    continue
                judge = (k == judged and primary)
                L.append("| %s RSS, %s-file workspace, idle %s (MB; p50 / max of 1 s samples) | %s | %s (max) | %s | %s |"
                         % (label, idle["label"], wname, fmt(p["rss_p50"]), fmt(p["rss_max"]), "≤ %.0f MB" % idle["rss_target"] if judge else "",
                            met(p["rss_max"] <= idle["rss_target"]) if judge else ""))
                L.append("| %s CPU, idle %s (%%; utime+stime ticks / schedstat ns) | %s | %s (ns) | %s | %s |"
                         % (label, wname, fmt(p["cpu_pct_ticks"], 3), fmt(p["cpu_pct_ns"], 3),
                            "< %.1f%%" % TARGET_IDLE_CPU_PCT if judge else "",
                            met(p["cpu_pct_ticks"] < TARGET_IDLE_CPU_PCT) if judge else ""))
            p = idle["procs"].get(k)
            if p:
                L.append("| %s inotify watches (threads) | %s | (%d threads) | | |" % (label, p["watches"], p["threads"]))
        L.append("| %s-file workspace: process start → running (s) | %s | | | |" % (idle["label"], fmt(idle["to_running"], 2)))
        L.append("| %s-file workspace: one-file edit → `synced` at `up` (ms; 10 edits) | %s | %s | | |"
                 % (idle["label"], fmt(pct(idle["edit_ms"], 50)), fmt(pct(idle["edit_ms"], 90))))
    L.append("")
    if idle:
        L.append("%s-file workspace: %d files, %d of them in node_modules (listed in .dockerignore, %d folders); %d folders "
                 "kept outside it. Its sync line: `%s`." % (idle["label"], idle["files"], idle["nm_files"], idle["nm_dirs"],
                                                            idle["kept_dirs"], idle["sync_line"]))
        L.append("")
    if s:
        L.append("Static: %d edits produced %d `synced` events; a poll needed %s requests at p50."
                 % (s["edits"], s["synced_events"], pct(s["polls"], 50)))
        L.append("")
    if OBSERVATIONS:
        L.append("Observations during this run:")
        L.append("")
        for o in OBSERVATIONS:
            L.append("- " + o)
        L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "devspacesd"))
    ap.add_argument("-n", "--n", type=int, default=30, help="repetitions per latency measurement (default 30)")
    ap.add_argument("--warmup", type=int, default=2, help="uncounted repetitions first (default 2)")
    ap.add_argument("--sync-runs", type=int, default=None, help="initial-sync runs (default: N)")
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--steady-seconds", type=float, default=30.0,
                    help="a second idle window right after the first (0: skip)")
    ap.add_argument("--settle-seconds", type=float, default=5.0, help="wait after running before sampling idle")
    ap.add_argument("--scale", choices=sorted(SCALES), default="100k",
                    help="the idle workspace: 100k files (10k kept) or 1m (100k kept, 900k in node_modules)")
    ap.add_argument("--only", default="static,restart,sync,idle",
                    help="comma list of: static, restart, sync, idle")
    ap.add_argument("--out", help="also write the Markdown table here")
    ap.add_argument("--raw", help="also write every sample as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (for debugging)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        print("no executable at %s (build it: cargo build --release -p devspacesd)" % args.bin, file=sys.stderr)
        return 2
    only = set(x.strip() for x in args.only.split(",") if x.strip())
    work = tempfile.mkdtemp(prefix="devspaces-bench-")
    log("work dir %s" % work)
    results = {"load_start": loadavg()}
    try:
        if "static" in only:
            log("static: %d edits" % (args.n + args.warmup))
            results["static"] = bench_static(args.bin, work, args.n, args.warmup)
        if "restart" in only:
            baseline = Baseline(work)
            try:
                log("restart: example (with buildCommands), interleaved with the app's own kill-and-start and py_compile")
                results["restart"] = bench_restart(args.bin, work, args.n, args.warmup, "restart-svc", False, baseline)
                log("restart: variant without buildCommands, interleaved with the app's own kill-and-start")
                results["restart_nobuild"] = bench_restart(args.bin, work, args.n, args.warmup, "restart-nobuild-svc",
                                                           True, baseline)
            finally:
                baseline.close()
        if "sync" in only:
            runs = args.sync_runs if args.sync_runs is not None else args.n
            log("initial sync of 10k files: %d runs" % runs)
            results["sync"] = bench_initial_sync(args.bin, work, runs)
        if "idle" in only:
            log("idle on a %s-file workspace: %.0f s" % (SCALES[args.scale][0], args.idle_seconds))
            results["idle"] = bench_idle(args.bin, work, args.idle_seconds, args.settle_seconds, args.steady_seconds,
                                         args.scale)
    except BenchError as e:
        print("bench error: %s" % e, file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = report(results, args)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
