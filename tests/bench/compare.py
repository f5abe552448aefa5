#!/usr/bin/env python3
"""devspaces beside the tools users would pick instead: the same generated app, the same machine,
the same minute (issue 18). Not a test: it prints and writes a Markdown table; it exits non-zero
only when something breaks.

Two comparisons per workspace size (files kept, none ignored), rounds interleaved in a shuffled
order so that the machine's load hits every tool alike:

* restart (edit `version.py` -> the new version served over HTTP): devspaces' local backend
  (process-restart), nodemon (npm), watchexec (crates.io, `watchexec-cli`) and entr (Debian),
  each with its defaults, each watching its own copy of the workspace and running the same app on
  its own port; and the floor: the harness itself stops the app (SIGTERM) and starts it again.
* sync (edit `public/index.html` -> the new bytes in the destination file): devspaces' local
  backend (static-sync, into its container root), lsyncd (Debian; rsync per event, `delay = 0`,
  `--ignore-times`: rsync's size-and-second check would skip an edit of the same size within the
  same second, as every edit here is)
  and the floor: a copier of the harness (inotify through ctypes, `IN_CLOSE_WRITE`, then copy and
  rename) in its own process.

Each latency is from just before the harness writes the file to the first poll (every 0.2 ms)
that sees the change. Reported: p50 and p90 per tool, the difference to the floor and each peer's
ratio to devspaces. Tilt, Skaffold, DevSpace and Okteto are served by no registry reachable
here; the table quotes their published figures instead.

Peers are installed once, cached under ~/.cache/devspaces/peers/ by version: nodemon with npm,
watchexec with `cargo install`, entr, lsyncd and rsync with apt-get when missing.

Python 3 standard library only (plus local.py's Session). Every process started here is stopped
by its PID; all traffic stays on 127.0.0.1; the generated workspaces are removed at the end.
"""

import argparse
import ctypes
import datetime
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import common
import local

NODEMON = "3.1.14"
WATCHEXEC = "2.8.0"
CACHE = os.path.expanduser("~/.cache/devspaces/peers")

APP = r'''import http.server, os, sys, signal
from version import VERSION
ROOT = os.path.dirname(os.path.abspath(__file__))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/public/"):
            try:
                body = open(os.path.join(ROOT, self.path.lstrip("/")), "rb").read()
            except OSError:
                body = b"missing"
        else:
            body = ("version %s\n" % VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''

AZDS = '''kind: helm-release
apiVersion: 1.1
build:
  context: .
  dockerfile: Dockerfile
configurations:
  develop:
    container:
      sync:
      - "**/*.py"
      - "public/**"
      - "src/**"
      static:
      - "public/**"
      - "src/**"
      command: [python3, app.py]
      iterate:
        processesToKill: [python3]
'''

DOCKERFILE = "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nENV PORT=8080\nEXPOSE 8080\nCMD [\"python3\", \"app.py\"]\n"


def note(msg):
    print("note: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------------------------------------
# Peers


def ensure_peers():
    """The peers' executables, installed into the cache when missing."""
    need = [p for p in ("entr", "lsyncd", "rsync") if shutil.which(p) is None]
    if need:
        note("installing %s from Debian" % " ".join(need))
        run(["apt-get", "install", "-y", "-qq"] + need, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    nodemon_dir = os.path.join(CACHE, "nodemon-" + NODEMON)
    nodemon = os.path.join(nodemon_dir, "node_modules", "nodemon", "bin", "nodemon.js")
    if not os.path.exists(nodemon):
        note("installing nodemon %s from npm" % NODEMON)
        os.makedirs(nodemon_dir, exist_ok=True)
        run(["npm", "install", "--prefix", nodemon_dir, "--no-audit", "--no-fund", "--loglevel=error",
             "nodemon@" + NODEMON])
    watchexec_root = os.path.join(CACHE, "watchexec-" + WATCHEXEC)
    watchexec = os.path.join(watchexec_root, "bin", "watchexec")
    if not os.path.exists(watchexec):
        note("building watchexec %s from crates.io (a few minutes, once)" % WATCHEXEC)
        run(["cargo", "install", "--locked", "--root", watchexec_root, "watchexec-cli@" + WATCHEXEC])
    return {"nodemon": nodemon, "watchexec": watchexec, "entr": shutil.which("entr"),
            "lsyncd": shutil.which("lsyncd")}


def version_of(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


# ---------------------------------------------------------------------------------------------
# The workspace


def workspace(root, name, files):
    """The app, `files` files in all: app.py, version.py, public/index.html, azds.yaml, Dockerfile,
    and the rest in src/ (100 to a folder), all kept (synced, watched)."""
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "public"))
    with open(os.path.join(d, "app.py"), "w") as f:
        f.write(APP)
    with open(os.path.join(d, "version.py"), "w") as f:
        f.write("VERSION = 0\n")
    with open(os.path.join(d, "public", "index.html"), "w") as f:
        f.write("page 0\n")
    with open(os.path.join(d, "azds.yaml"), "w") as f:
        f.write(AZDS)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    for i in range(max(0, files - 5)):
        sub = os.path.join(d, "src", "d%04d" % (i // 100))
        if i % 100 == 0:
            os.makedirs(sub)
        with open(os.path.join(sub, "f%d.txt" % i), "w") as f:
            f.write("filler %d\n" % i)
    return d


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def get(port, path="/"):
    """The raw answer to one GET, or b"" while nothing serves."""
    try:
        return common.get(port, path, 2)
    except OSError:
        return b""


def wait_until(check, timeout, what):
    """Polls `check` every 0.2 ms; the nanoseconds when it first held."""
    end = time.monotonic() + timeout
    while True:
        if check():
            return time.perf_counter_ns()
        if time.monotonic() > end:
            raise local.BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.0002)


# ---------------------------------------------------------------------------------------------
# Restart tools: each runs the app on its own port from its own copy and restarts it on a change


class Proc:
    """A peer's process (its own process group, stopped by its PID's group)."""

    def __init__(self, cmd, cwd, env, log, stdin=None):
        self.log = open(log, "wb")
        self.stdin = stdin
        self.p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=stdin or subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(10)
        self.log.close()
        if self.stdin:
            self.stdin.close()


class RestartTool:
    name = "?"

    def __init__(self, root, files):
        self.dir = workspace(root, self.name, files)
        self.port = free_port()
        self.env = dict(os.environ, PORT=str(self.port), PYTHONDONTWRITEBYTECODE="1")

    def serving(self, version):
        want = ("version %d\n" % version).encode()
        return lambda: get(self.port).endswith(want)

    def restart(self, version):
        """Edits version.py (or, for the floor, restarts by hand); the latency in ms."""
        t0 = time.perf_counter_ns()
        write(os.path.join(self.dir, "version.py"), "VERSION = %d\n" % version)
        t1 = wait_until(self.serving(version), 60, "%s serving version %d" % (self.name, version))
        return (t1 - t0) / 1e6

    def ready(self):
        wait_until(self.serving(0), 120, "%s serving" % self.name)


class Floor(RestartTool):
    """The app's own kill-and-start: what no tool can beat."""
    name = "floor"

    def start(self, root):
        self.app = Proc([sys.executable, "app.py"], self.dir, self.env, os.path.join(root, "floor.log"))

    def restart(self, version):
        t0 = time.perf_counter_ns()
        write(os.path.join(self.dir, "version.py"), "VERSION = %d\n" % version)
        # SIGTERM, then a blocking waitpid that returns at the exit (Proc.stop's wait with a
        # timeout polls with sleeps growing to 50 ms, which made the floor up to twice the stop).
        os.killpg(self.app.p.pid, signal.SIGTERM)
        self.app.p.wait()
        self.app.stop()
        self.app = Proc([sys.executable, "app.py"], self.dir, self.env, os.path.join(self.dir, "..", "floor.log"))
        t1 = wait_until(self.serving(version), 60, "floor serving version %d" % version)
        return (t1 - t0) / 1e6

    def stop(self):
        self.app.stop()


# The steps of a restart as `DEVSPACES_TIMINGS` has the daemon and the agent log them, in order:
# the daemon's batch (`timing: event@<ns> received +ms ...`), then the agent's restart.
DAEMON_STEPS = ["event", "received", "classified", "synced", "restart"]
AGENT_STEPS = ["restart", "locked", "stopped", "killed", "built", "spawned"]
STEP_LABELS = {
    "event": "save -> the daemon's first inotify event",
    "received": "-> batch closed (quiet window) and received by the session",
    "classified": "-> paths checked and classified",
    "synced": "-> file read, sent, written by the agent, committed",
    "restart": "-> restart request sent",
    "agent:restart": "-> request received by the agent",
    "agent:locked": "-> restart lock taken",
    "agent:stopped": "-> old app stopped (SIGTERM, exit seen)",
    "agent:killed": "-> processesToKill and debug server checked",
    "agent:built": "-> buildCommands run",
    "agent:spawned": "-> new app spawned",
    "served": "-> new version served (the app's start, the poll)",
}
TIMING = re.compile(r"^timing: (\w+)@(\d+)((?: \w+ \+[\d.]+)*)")


def timing_marks(line):
    """`timing: what@ns step +ms ...` -> (what, {step: ns since the epoch})."""
    m = TIMING.match(line)
    if not m:
        return None, {}
    start = int(m.group(2))
    marks = {m.group(1): start}
    for step, ms in re.findall(r" (\w+) \+([\d.]+)", m.group(3)):
        marks[step] = start + int(float(ms) * 1e6)
    return m.group(1), marks


class Devspaces(RestartTool):
    name = "devspaces"

    def start(self, root):
        self.s = local.Session(BIN, self.dir, root, "ds-" + str(os.getpid()) + "-" + self.name,
                               ["--backend", "local"], extra_env={"DEVSPACES_TIMINGS": "1"})
        self.s.wait_running(180)
        self.port = self.s.port
        self.steps = []  # per measured round: {step: ms after the save}

    def restart(self, version):
        seen = len(self.s.all)
        wall0 = time.time_ns()
        ms = RestartTool.restart(self, version)
        # The agent logs its line at the spawn, before the app serves: both lines are out by now,
        # give them a moment to reach `up`'s output.
        end = time.monotonic() + 2
        daemon, agent = {}, {}
        while time.monotonic() < end and not (daemon.get("restart") and agent.get("spawned")):
            self.s.events()
            daemon, agent = {}, {}
            for ev in self.s.all[seen:]:
                what, marks = timing_marks(ev.get("params", {}).get("line", ""))
                if what == "event" and "restart" in marks:
                    daemon = marks
                elif what == "restart":
                    agent = marks
            time.sleep(0.01)
        if daemon and agent:
            row = {k: (daemon[k] - wall0) / 1e6 for k in DAEMON_STEPS if k in daemon}
            row.update({"agent:" + k: (agent[k] - wall0) / 1e6 for k in AGENT_STEPS if k in agent})
            row["served"] = ms
            self.steps.append(row)
        return ms

    def stop(self):
        self.s.stop()


class Peer(RestartTool):
    """A peer that runs the app itself and restarts it when a `.py` file changes."""

    def command(self):
        raise NotImplementedError

    def start(self, root):
        self.p = Proc(self.command(), self.dir, self.env, os.path.join(root, self.name + ".log"))

    def stop(self):
        self.p.stop()


class Nodemon(Peer):
    name = "nodemon"

    def command(self):
        return ["node", PEERS["nodemon"], "--watch", ".", "--ext", "py", "--exec", "python3 app.py"]


class Watchexec(Peer):
    name = "watchexec"

    def command(self):
        return [PEERS["watchexec"], "--restart", "--exts", "py", "--watch", ".", "--", "python3", "app.py"]


class Entr(Peer):
    name = "entr"

    def start(self, root):
        # entr reads the files to watch on stdin and restarts the command (-r) on a change; -n:
        # no TTY here.
        lst = os.path.join(root, "entr-files.txt")
        write(lst, "\n".join(os.path.join(self.dir, f) for f in ("app.py", "version.py")) + "\n")
        self.p = Proc([PEERS["entr"], "-rn", "python3", "app.py"], self.dir, self.env,
                      os.path.join(root, "entr.log"), stdin=open(lst))


# ---------------------------------------------------------------------------------------------
# Sync tools: each copies public/index.html of its own copy into a destination file


FLOOR_COPIER = r'''
import ctypes, os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
IN_CLOSE_WRITE, IN_MOVED_TO = 0x8, 0x80
libc.inotify_add_watch(fd, src.encode(), IN_CLOSE_WRITE | IN_MOVED_TO)
print("watching", flush=True)
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        _, _, _, n = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
        i += 16 + n
        if name and not name.startswith("."):
            data = open(os.path.join(src, name), "rb").read()
            tmp = os.path.join(dst, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(dst, name))
'''


class SyncTool:
    name = "?"

    def __init__(self, root, files):
        self.dir = workspace(root, "sync-" + self.name, files)
        self.dst = os.path.join(root, "sync-" + self.name + "-dst")

    def target(self):
        return os.path.join(self.dst, "index.html")

    def sync(self, version):
        want = ("page %d\n" % version).encode()
        path = self.target()

        def arrived():
            try:
                with open(path, "rb") as f:
                    return f.read() == want
            except OSError:
                return False

        t0 = time.perf_counter_ns()
        write(os.path.join(self.dir, "public", "index.html"), want.decode())
        t1 = wait_until(arrived, 60, "%s syncing page %d" % (self.name, version))
        return (t1 - t0) / 1e6


class CopyFloor(SyncTool):
    name = "copy floor"

    def start(self, root):
        os.makedirs(self.dst)
        self.p = Proc([sys.executable, "-c", FLOOR_COPIER, os.path.join(self.dir, "public"), self.dst], root, None,
                      os.path.join(root, "floor-copier.log"))
        wait_until(lambda: b"watching" in open(os.path.join(root, "floor-copier.log"), "rb").read(), 30, "copier")

    def stop(self):
        self.p.stop()


class Lsyncd(SyncTool):
    name = "lsyncd"

    def start(self, root):
        os.makedirs(self.dst)
        conf = os.path.join(root, "lsyncd.lua")
        write(conf, 'settings { nodaemon = true, logfile = "%s" }\n'
                    'sync { default.rsync, source = "%s", target = "%s", delay = 0,\n'
                    '  rsync = { _extra = { "--ignore-times" } } }\n'
              % (os.path.join(root, "lsyncd.log"), os.path.join(self.dir, "public") + "/", self.dst + "/"))
        self.p = Proc([PEERS["lsyncd"], conf], root, None, os.path.join(root, "lsyncd.out"))
        # lsyncd's startup sync copies the page once.
        wait_until(lambda: os.path.exists(self.target()), 60, "lsyncd's first sync")

    def stop(self):
        self.p.stop()


class DevspacesSync(SyncTool):
    name = "devspaces"

    def start(self, root):
        self.s = local.Session(BIN, self.dir, root, "dss-" + str(os.getpid()), ["--backend", "local"])
        self.s.wait_running(300)
        # The local backend's container root (the Dockerfile's WORKDIR /app inside it): what the
        # app serves from.
        fs = os.path.join(self.s.dir, "state", "spaces", "default", os.path.basename(self.dir), "fs")
        self.dst = os.path.join(fs, "app", "public")
        wait_until(lambda: os.path.exists(self.target()), 60, "devspaces' first sync")

    def stop(self):
        self.s.stop()


# ---------------------------------------------------------------------------------------------
# Statistics and the table


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def interleave(tools, rounds, measure):
    """Each round, every tool once, in a new shuffled order; the latencies per tool."""
    out = {t.name: [] for t in tools}
    for r in range(rounds):
        order = list(tools)
        random.shuffle(order)
        for t in order:
            out[t.name].append(measure(t, r + 1))
            time.sleep(0.05)
    return out


def table(title, got, ours, floor, rows):
    rows.append("")
    rows.append("### " + title)
    rows.append("")
    rows.append("| tool | p50 (ms) | p90 (ms) | p50 above the floor (ms) | p50 ÷ devspaces' |")
    rows.append("|---|---|---|---|---|")
    f50 = pct(got[floor], 50)
    o50 = pct(got[ours], 50)
    for name, xs in got.items():
        p50, p90 = pct(xs, 50), pct(xs, 90)
        above = "" if name == floor else "%.1f" % (p50 - f50)
        ratio = "" if name in (floor, ours) else "%.2f" % (p50 / o50 if o50 else float("nan"))
        label = "**%s**" % name if name == ours else name
        rows.append("| %s | %.1f | %.1f | %s | %s |" % (label, p50, p90, above, ratio))


def steps_table(title, steps, rows):
    """p50 of each step's time after the save, and of the step itself (from the one before it)."""
    if not steps:
        rows.extend(["", "### " + title, "", "(no timing lines were seen)"])
        return
    order = [k for k in DAEMON_STEPS] + ["agent:" + k for k in AGENT_STEPS] + ["served"]
    order = [k for k in order if all(k in r for r in steps)]
    rows.extend(["", "### " + title, "",
                 "| step | ms after the save, p50 | the step alone, p50 | p90 |", "|---|---|---|---|"])
    prev = None
    for k in order:
        at = [r[k] for r in steps]
        alone = [r[k] - (r[prev] if prev else 0.0) for r in steps]
        rows.append("| %s | %.2f | %.2f | %.2f |" % (STEP_LABELS.get(k, k), pct(at, 50), pct(alone, 50), pct(alone, 90)))
        prev = k
    rows.append("")
    rows.append("%d rounds; the daemon's and the agent's clocks are this machine's (local backend)." % len(steps))


def main():
    global BIN, PEERS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the devspacesd binary (a release build)")
    ap.add_argument("-n", "--rounds", type=int, default=20)
    ap.add_argument("--sizes", default="1000,10000", help="workspace sizes in files, comma-separated")
    ap.add_argument("--out", help="also write the table here")
    ap.add_argument("--tools", help="only these tools (comma-separated names, e.g. floor,devspaces); default: all")
    ap.add_argument("--no-sync", action="store_true", help="only the restart rows")
    args = ap.parse_args()
    BIN = args.bin
    PEERS = ensure_peers()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = loadavg()
    rows = []
    work = tempfile.mkdtemp(prefix="devspaces-compare-")
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            root = os.path.join(work, "n%d" % size)
            os.makedirs(root)
            tools = [Floor(root, size), Devspaces(root, size), Nodemon(root, size), Watchexec(root, size),
                     Entr(root, size)]
            if args.tools:
                tools = [t for t in tools if t.name in args.tools.split(",")]
            try:
                for t in tools:
                    t.start(root)
                for t in tools:
                    t.ready()
                # Two warm-up rounds, then the measured ones (versions keep counting up).
                interleave(tools, 2, lambda t, r: t.restart(1000 + r))
                for t in tools:
                    t.steps = []
                got = interleave(tools, args.rounds, lambda t, r: t.restart(r))
                steps = [s for t in tools if t.name == "devspaces" for s in t.steps]
            finally:
                for t in tools:
                    try:
                        t.stop()
                    except Exception as e:  # noqa: BLE001 - every tool gets stopped
                        note("stopping %s: %s" % (t.name, e))
            table("Restart, %d-file workspace: edit `version.py` -> new version served" % size, got, "devspaces",
                  "floor", rows)
            steps_table("devspaces' restart step by step, %d-file workspace (`DEVSPACES_TIMINGS`)" % size, steps, rows)
            if args.no_sync:
                continue
            syncs = [CopyFloor(root, size), Lsyncd(root, size), DevspacesSync(root, size)]
            if args.tools:
                syncs = [t for t in syncs if t.name in args.tools.split(",") + ["copy floor"]]
            try:
                for t in syncs:
                    t.start(root)
                interleave(syncs, 2, lambda t, r: t.sync(1000 + r))
                got = interleave(syncs, args.rounds, lambda t, r: t.sync(r))
            finally:
                for t in syncs:
                    try:
                        t.stop()
                    except Exception as e:  # noqa: BLE001
                        note("stopping %s: %s" % (t.name, e))
            table("Sync, %d-file workspace: edit `public/index.html` -> new bytes in the destination" % size, got,
                  "devspaces", "copy floor", rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = [
        "# devspaces beside its peers, one run",
        "",
        "`tests/bench/compare.sh`, %s, %d measured rounds per tool (after 2 warm-up), interleaved in a "
        "shuffled order; nearest-rank percentiles." % (started.strftime("%Y-%m-%d %H:%M UTC"), args.rounds),
        "",
        "Machine: %s, %d CPUs, Linux %s. Load average (1/5/15 min) at start %s, at end %s. Peers: nodemon %s, "
        "%s, entr %s, lsyncd %s." % (platform.processor() or platform.machine(), os.cpu_count(), platform.release(),
                                      load_start, loadavg(), NODEMON, version_of([PEERS["watchexec"], "--version"]),
                                      "5.3", version_of([PEERS["lsyncd"], "--version"])),
        "",
        "Each tool with its defaults (watchexec debounces 50 ms by default; nodemon's delay is 0 here, its "
        "default; lsyncd runs rsync per change with `delay = 0` and `--ignore-times`, else rsync skips a "
        "same-size edit within the same second). Tilt, Skaffold, DevSpace and Okteto are "
        "served by no registry reachable here: their published figures are 1-2 s (Tilt, DevSpace) and about "
        "1 s of delay before a sync (Okteto), against the rows above.",
    ]
    text = "\n".join(head + rows) + "\n"
    print(text)
    if args.out:
        write(args.out, text)


if __name__ == "__main__":
    sys.exit(main())
