#!/usr/bin/env python3
"""Load test of a session's forward (issue 12, "Done when" item 4). Not part of the test suite.

`devspacesd up` runs tests/fixtures/apps/fast-http (a copy, with its own state dir and TMPDIR).
Then, for --duration seconds (60):
  - --conns keep-alive connections (1000) to the forward are held and --rate GET/s (5000) are sent
    over them, open loop, from --workers processes: every 2 ms a ticker works out how many
    requests are due and sends each on a free connection (pipelined behind another one when none
    is free). Latency is from the write of a request to the end of its response. Each connection
    has answered one warm-up request before the clock starts; one the forward closes is reopened
    and used at once.
  - another user (--flood-user, default nobody, through setpriv) floods the forward: it keeps
    --flood connections (3000) open that never send a byte, reopening each one the forward
    closes, at most --flood-rate (1000) per second; it also tries to reach the daemon's socket.
  - `devspaces/status` is asked on the daemon's socket every 0.5 s and timed.
It prints a Markdown table (and writes it with --out). Everything stays on 127.0.0.1. It stops by
itself; every process it starts is stopped by its PID; its temp dir is removed. Exit status 0 when
it ran (a missed target is reported, not an error), 1 when something broke.

Python 3 standard library only. Needs root for the flood from another uid (else --flood 0).
"""

import argparse
import array
import asyncio
import collections
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from common import REPO, get

APP = os.path.join(REPO, "tests", "fixtures", "apps", "fast-http")
REQUEST = b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def log(msg):
    print("[load] " + msg, file=sys.stderr, flush=True)


def kinds(counter):
    """A Counter's kinds as ' (kind: n, ...)', or '' when it is empty."""
    if not counter:
        return ""
    return " (" + ", ".join("%s: %d" % kv for kv in counter.most_common()) + ")"


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty sorted list."""
    k = max(1, math.ceil(p / 100.0 * len(values)))
    return values[k - 1]


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def descendants(pid):
    children = collections.defaultdict(list)
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    children[int(f.read().rsplit(")", 1)[1].split()[1])].append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Load workers (one process each)


class Client(asyncio.Protocol):
    def __init__(self, w):
        self.w = w
        self.t = None
        self.buf = b""
        self.pending = collections.deque()
        self.open = False

    def connection_made(self, transport):
        self.t = transport
        self.open = True
        self.w.open += 1
        # A connection opened during the run is used at once, as a browser's would be.
        if self.w.running:
            self.w.free.appendleft(self)
        else:
            self.w.free.append(self)

    def send(self):
        self.pending.append(time.perf_counter())
        self.t.write(REQUEST)

    def data_received(self, data):
        buf = self.buf + data if self.buf else data
        pos = 0
        now = time.perf_counter()
        w = self.w
        while True:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            i = buf.find(b"content-length:", pos, end)
            if i < 0:
                i = buf.lower().find(b"content-length:", pos, end)
            n = 0
            if i >= 0:
                j = buf.find(b"\r\n", i, end + 2)
                n = int(buf[i + 15 : j if j >= 0 else end])
            if len(buf) < end + 4 + n:
                break
            status = buf[pos + 9 : pos + 12]
            pos = end + 4 + n
            if not self.pending:
                w.error("response without a request")
                continue
            w.lat.append((now - self.pending.popleft()) * 1000.0)
            if status == b"200":
                w.ok += 1
            else:
                w.error("status " + status.decode("ascii", "replace"))
        self.buf = buf[pos:]
        if not self.pending and self.open:
            w.free.append(self)

    def connection_lost(self, exc):
        self.open = False
        w = self.w
        w.open -= 1
        if w.running:
            w.server_closes += 1
            w.close_kinds["%s, %d pending" % ("end of stream" if exc is None else type(exc).__name__,
                                              len(self.pending))] += 1
        for _ in self.pending:
            w.error("connection closed with the request pending")
        self.pending.clear()
        if w.running:
            w.reconnect()


class Worker:
    def __init__(self, port, nconns, rate, duration):
        self.port, self.nconns, self.rate, self.duration = port, nconns, rate, duration
        self.free = collections.deque()
        self.conns = []
        self.open = 0
        self.ok = 0
        self.sent = 0
        self.errors = collections.Counter()
        self.lat = array.array("f")
        self.server_closes = 0
        self.close_kinds = collections.Counter()
        self.reconnects = 0
        self.connect_errors = collections.Counter()
        self.running = False
        self.rr = 0

    def error(self, kind):
        self.errors[kind] += 1

    async def connect(self):
        loop = asyncio.get_running_loop()
        try:
            _, c = await loop.create_connection(lambda: Client(self), "127.0.0.1", self.port)
            self.conns.append(c)
        except OSError as e:
            self.connect_errors[type(e).__name__] += 1

    def reconnect(self):
        self.reconnects += 1
        asyncio.get_running_loop().create_task(self.connect())

    def dispatch(self):
        while self.free:
            c = self.free.popleft()
            if c.open and not c.pending:
                c.send()
                return
        # None free: pipelined behind another request, round robin.
        for _ in range(len(self.conns)):
            c = self.conns[self.rr % len(self.conns)]
            self.rr += 1
            if c.open:
                c.send()
                return
        self.error("no open connection to send on")

    async def run(self, pipe):
        loop = asyncio.get_running_loop()
        for i in range(0, self.nconns, 100):
            await asyncio.gather(*(self.connect() for _ in range(min(100, self.nconns - i))))
        # One request on each connection first: what is held is kept-alive connections, not ones
        # that never sent a byte (the first the forward closes at its cap, docs/architecture.md).
        for c in self.conns:
            c.send()
        end = time.perf_counter() + 30
        while time.perf_counter() < end and any(c.pending for c in self.conns):
            await asyncio.sleep(0.01)
        warm = {"answered": self.ok, "errors": dict(self.errors)}
        self.ok, self.lat, self.errors = 0, array.array("f"), collections.Counter()
        self.free = collections.deque(c for c in self.conns if c.open and not c.pending)
        pipe.send(("ready", self.open, dict(self.connect_errors), warm))
        await loop.run_in_executor(None, pipe.recv)  # go
        self.running = True
        t0 = time.perf_counter()
        while True:
            now = time.perf_counter() - t0
            if now >= self.duration:
                break
            due = int(self.rate * now) - self.sent
            for _ in range(due):
                self.dispatch()
            self.sent += max(due, 0)
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        # Answers still on their way: up to 5 s.
        end = time.perf_counter() + 5
        while time.perf_counter() < end and any(c.pending for c in self.conns):
            await asyncio.sleep(0.01)
        held = self.open
        self.running = False
        for c in self.conns:
            for _ in c.pending:
                self.error("no answer within 5 s of the end")
            c.pending.clear()
        pipe.send(("done", {
            "sent": self.sent, "ok": self.ok, "errors": dict(self.errors), "held": held,
            "server_closes": self.server_closes, "close_kinds": dict(self.close_kinds), "reconnects": self.reconnects,
            "connect_errors": dict(self.connect_errors), "elapsed": elapsed, "lat": self.lat.tobytes(),
        }))
        for c in self.conns:
            if c.t is not None:
                c.t.close()


def worker_main(port, nconns, rate, duration, pipe):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(Worker(port, nconns, rate, duration).run(pipe))


# ---------------------------------------------------------------------------------------------
# The flood from another uid (run as `python3 -c FLOOD port n rate duration socket`)

FLOOD = r"""
import errno, json, os, selectors, socket, sys, time
port, n, rate, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
sock_path = sys.argv[5]
out = {"uid": os.getuid()}
try:
    u = socket.socket(socket.AF_UNIX)
    u.connect(sock_path)
    out["daemon_socket"] = "connected (!)"
    u.close()
except OSError as e:
    out["daemon_socket"] = "%s (errno %s)" % (type(e).__name__, e.errno)
sel = selectors.DefaultSelector()
held = set()
opened = failed = closed = 0
max_held = 0
tokens, last = 0.0, time.monotonic()
end = last + duration
while time.monotonic() < end:
    now = time.monotonic()
    tokens = min(rate / 10.0, tokens + (now - last) * rate)
    last = now
    while len(held) < n and tokens >= 1:
        tokens -= 1
        s = socket.socket()
        s.setblocking(False)
        e = s.connect_ex(("127.0.0.1", port))
        if e not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            continue
        opened += 1
        held.add(s)
        sel.register(s, selectors.EVENT_READ)
    max_held = max(max_held, len(held))
    for key, _ in sel.select(timeout=0.005):
        s = key.fileobj
        try:
            data = s.recv(256)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            held.discard(s)
            s.close()
            closed += 1
out.update(opened=opened, failed=failed, closed_by_forward=closed, max_held=max_held, held_at_end=len(held))
print(json.dumps(out), flush=True)
"""


# ---------------------------------------------------------------------------------------------
# `devspaces/status` on the daemon's socket


def frame(obj):
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class Rpc:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def read(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                n = 0
                for line in self.buf[:end].split(b"\r\n"):
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v)
                if len(self.buf) >= end + 4 + n:
                    body = self.buf[end + 4 : end + 4 + n]
                    self.buf = self.buf[end + 4 + n :]
                    return json.loads(body)
            chunk = self.s.recv(65536)
            if not chunk:
                raise BenchError("the daemon closed the status connection")
            self.buf += chunk

    def call(self, id_, method, params):
        self.s.sendall(frame({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}))
        while True:
            m = self.read()
            if m.get("id") == id_ and "method" not in m:
                return m


class StatusProbe(threading.Thread):
    def __init__(self, sock_path, daemon_pid):
        super().__init__(daemon=True)
        self.sock_path, self.daemon_pid = sock_path, daemon_pid
        self.stop = threading.Event()
        self.lat = []
        self.failures = collections.Counter()
        self.max_fds = 0

    def run(self):
        rpc = Rpc(self.sock_path)
        rpc.call(1, "initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
        rpc.s.sendall(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        i = 2
        while not self.stop.wait(0.5):
            self.max_fds = max(self.max_fds, open_fds(self.daemon_pid) or 0)
            t0 = time.perf_counter()
            try:
                r = rpc.call(i, "devspaces/status", {})
                if "result" in r:
                    self.lat.append((time.perf_counter() - t0) * 1000.0)
                else:
                    self.failures["error " + json.dumps(r.get("error"))[:80]] += 1
            except (OSError, BenchError) as e:
                self.failures[type(e).__name__] += 1
                try:
                    rpc = Rpc(self.sock_path)
                    rpc.call(1, "initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
                except (OSError, BenchError) as e2:
                    self.failures["reconnect " + type(e2).__name__] += 1
            i += 1


# ---------------------------------------------------------------------------------------------
# The session


def wait_events(path, pred, proc, timeout, what):
    end = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < end:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for line in lines[seen:-1]:
            if b'"devspaces/trace"' in line:
                continue
            ev = json.loads(line)
            if pred(ev):
                return ev
        seen = max(seen, len(lines) - 1)
        if proc.poll() is not None:
            raise BenchError("devspacesd up exited (code %s) while waiting for %s" % (proc.returncode, what))
        time.sleep(0.05)
    raise BenchError("timed out waiting for %s" % what)


def get_ok(port):
    try:
        data = get(port, "/ping", 2)
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n")


def stop_pid(pid, sig, within, what):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if os.path.exists("/proc/%d/stat" % pid):
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        time.sleep(0.05)
    log("%s (pid %d) did not stop; SIGKILL" % (what, pid))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "devspacesd"))
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--flood", type=int, default=3000, help="connections the other user keeps open (0: no flood)")
    ap.add_argument("--flood-rate", type=float, default=1000, help="connections it opens per second at most")
    ap.add_argument("--flood-user", default="nobody")
    ap.add_argument("--direct", action="store_true",
                    help="send the load to the app's own port, not through the forward (the client and app alone)")
    ap.add_argument("--short", action="store_true", help="5 s, 100 connections, 500 req/s, a flood of 300")
    ap.add_argument("--out", help="also write the results table to this file")
    args = ap.parse_args()
    if args.short:
        args.duration, args.conns, args.rate, args.flood = 5, 100, 500, min(args.flood, 300)
    if not os.access(args.bin, os.X_OK):
        raise BenchError("no binary at %s (nice cargo build --release -p devspacesd)" % args.bin)
    if args.flood and os.getuid() != 0:
        raise BenchError("the flood from another uid needs root (or pass --flood 0)")

    work = tempfile.mkdtemp(prefix="devspaces-load-")
    procs = []  # (pid, what) to stop, in order
    daemon_pid = None
    try:
        svc = os.path.join(work, "fast-http")
        shutil.copytree(APP, svc)
        state, tmp = os.path.join(work, "state"), os.path.join(work, "tmp")
        os.makedirs(tmp)
        env = dict(os.environ, DEVSPACES_STATE_DIR=state, TMPDIR=tmp, NO_COLOR="1", DEVSPACES_IDLE_SECS="30")
        out_path = os.path.join(work, "up.jsonl")
        with open(out_path, "wb") as out, open(os.path.join(work, "up.err"), "wb") as err:
            up = subprocess.Popen([args.bin, "up", svc, "--json"], stdout=out, stderr=err,
                                  stdin=subprocess.DEVNULL, env=env)
        procs.append((up.pid, "devspacesd up"))
        fwd = wait_events(out_path, lambda e: e.get("method") == "devspaces/portForward"
                          and e["params"].get("state") == "open", up, 120, "the forward")
        port = fwd_port = fwd["params"]["localPort"]
        wait_events(out_path, lambda e: e.get("method") == "devspaces/serviceStatus"
                    and e["params"].get("phase") == "running", up, 120, "the app to run")
        end = time.monotonic() + 30
        while not get_ok(port):
            if time.monotonic() > end:
                raise BenchError("the app never answered through the forward on port %d" % port)
            time.sleep(0.1)
        with open(os.path.join(state, "daemon.pid")) as f:
            daemon_pid = int(f.read().strip())
        if " daemon" not in cmdline(daemon_pid):
            raise BenchError("pid %d in daemon.pid is not the daemon: %s" % (daemon_pid, cmdline(daemon_pid)))
        app_pid = next((p for p in descendants(daemon_pid) if "app.py" in cmdline(p)), None)
        log("forward on port %d, daemon %d, app %s" % (port, daemon_pid, app_pid))
        if args.direct:
            with open(os.path.join(state, "spaces", "default", "fast-http", "session.json")) as f:
                port = json.load(f)["forwards"][0]["remotePort"]
            log("--direct: the load goes to the app's port %d" % port)

        # The load's connections, opened and held before the clock starts.
        per = [args.conns // args.workers + (1 if i < args.conns % args.workers else 0) for i in range(args.workers)]
        pipes, workers = [], []
        for n in per:
            a, b = multiprocessing.Pipe()
            p = multiprocessing.Process(target=worker_main, args=(port, n, args.rate / args.workers, args.duration, b))
            p.start()
            procs.append((p.pid, "load worker"))
            pipes.append(a)
            workers.append(p)
        opened, connect_errors, warm_ok, warm_errors = 0, collections.Counter(), 0, collections.Counter()
        for a in pipes:
            if not a.poll(120):
                raise BenchError("a load worker did not open its connections within 120 s")
            _, n, errs, warm = a.recv()
            opened += n
            connect_errors.update(errs)
            warm_ok += warm["answered"]
            warm_errors.update(warm["errors"])
        log("%d connections open (%s), %d warm-up requests answered (%s)" % (
            opened, dict(connect_errors) or "no connect errors", warm_ok, dict(warm_errors) or "no errors"))

        flood = None
        if args.flood:
            flood = subprocess.Popen(["setpriv", "--reuid=" + args.flood_user, "--regid=nogroup", "--clear-groups",
                                      "/usr/bin/python3", "-c", FLOOD, str(fwd_port), str(args.flood),
                                      str(args.flood_rate), str(args.duration), os.path.join(state, "daemon.sock")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
            procs.append((flood.pid, "flood"))
        probe = StatusProbe(os.path.join(state, "daemon.sock"), daemon_pid)
        probe.start()
        watched = {"daemon": daemon_pid, "app": app_pid, "up": up.pid}
        watched.update({"load worker %d" % i: p.pid for i, p in enumerate(workers)})
        cpu0 = {k: cpu_ticks(v) for k, v in watched.items() if v}
        load0 = os.getloadavg()
        t0 = time.monotonic()
        for a in pipes:
            a.send("go")
        results = []
        for a in pipes:
            if not a.poll(args.duration + 60):
                raise BenchError("a load worker did not report")
            results.append(a.recv()[1])
        wall = time.monotonic() - t0
        cpu1 = {k: cpu_ticks(v) for k, v in watched.items() if v}
        load1 = os.getloadavg()
        probe.stop.set()
        probe.join(10)
        flood_result = None
        if flood is not None:
            fo, fe = flood.communicate(timeout=60)
            try:
                flood_result = json.loads(fo.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                flood_result = {"error": fe.decode()[-500:]}
        for p in workers:
            p.join(10)
        still_up = up.poll() is None

        lat = array.array("f")
        sent = ok = held = closes = reconnects = 0
        errors = collections.Counter()
        close_kinds = collections.Counter()
        elapsed = max(r["elapsed"] for r in results)
        for r in results:
            sent += r["sent"]
            ok += r["ok"]
            held += r["held"]
            closes += r["server_closes"]
            close_kinds.update(r["close_kinds"])
            reconnects += r["reconnects"]
            errors.update(r["errors"])
            errors.update({"connect: " + k: v for k, v in r["connect_errors"].items()})
            part = array.array("f")
            part.frombytes(r["lat"])
            lat.extend(part)
        lat = sorted(lat)
        slat = sorted(probe.lat)
        with open(out_path, "rb") as f:
            traces = sum(chunk.count(b'"devspaces/trace"') for chunk in iter(lambda: f.read(1 << 20), b""))

        def cpu_pct(k):
            if cpu0.get(k) is None or cpu1.get(k) is None:
                return "?"
            return "%.0f" % (100.0 * (cpu1[k] - cpu0[k]) / CLK_TCK / wall)

        n_err = sum(errors.values())
        rows = [
            ("connections held (open at the end / asked)", "%d / %d" % (held, args.conns), str(args.conns)),
            ("connections the forward closed during the run", "%d%s" % (closes, kinds(close_kinds)), "0"),
            ("requests sent / answered 200", "%d / %d" % (sent, ok), "%d" % (args.rate * args.duration)),
            ("answered per second (over %.1f s)" % elapsed, "%.0f" % (ok / elapsed), "%.0f" % args.rate),
            ("errors", "%d%s" % (n_err, kinds(errors)), "0"),
            ("latency p50 / p90 / p99 / max (ms)",
             " / ".join("%.2f" % v for v in (pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[-1])) if lat else "-", ""),
            ("`status` under the flood: answered / failed",
             "%d / %d%s" % (len(slat), sum(probe.failures.values()), kinds(probe.failures)), "all / 0"),
            ("`status` latency p50 / p99 / max (ms)",
             " / ".join("%.1f" % v for v in (pct(slat, 50), pct(slat, 99), slat[-1])) if slat else "-", ""),
        ]
        if flood_result is not None:
            fr = flood_result
            rows += [
                ("flood by uid %s: connections opened / held at most / closed by the forward"
                 % fr.get("uid", "?"),
                 "%s / %s / %s" % (fr.get("opened"), fr.get("max_held"), fr.get("closed_by_forward")), ""),
                ("flood: the daemon's socket from that uid", str(fr.get("daemon_socket", fr.get("error"))), "refused"),
            ]
        rows += [
            ("daemon: open descriptors at most", str(probe.max_fds), ""),
            ("CPU % of one core: daemon / app / up / load workers",
             " / ".join([cpu_pct("daemon"), cpu_pct("app"), cpu_pct("up"),
                         "+".join(cpu_pct("load worker %d" % i) for i in range(len(workers)))]), ""),
            ("traces printed by `up --json`", str(traces), ""),
            ("`up` still running at the end", "yes" if still_up else "NO", "yes"),
            ("machine", "%d cores, %s; load average %.2f before, %.2f after"
             % (os.cpu_count(), platform.machine(), load0[0], load1[0]), ""),
        ]
        table = ["| measure | value | target |", "|---|---|---|"] + ["| %s | %s | %s |" % r for r in rows]
        text = "\n".join(table)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write("Load test (tests/bench/load.py %s), %s\n\n%s\n" % (
                    " ".join(sys.argv[1:]), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), text))
        return 0
    finally:
        for pid, what in reversed(procs):
            stop_pid(pid, signal.SIGINT if what == "devspacesd up" else signal.SIGTERM, 20, what)
        if daemon_pid and " daemon" in cmdline(daemon_pid):
            stop_pid(daemon_pid, signal.SIGTERM, 20, "the daemon")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log("ERROR: " + str(e))
        sys.exit(1)
