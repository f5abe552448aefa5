#!/usr/bin/env python3
"""Benchmark of the editor protocol's log path (issue 3, "Done when" item 6).

Not a test: it measures and prints a Markdown table; a missed target is reported, not an error.
It exits non-zero only when something breaks (the binary fails to start, a wait times out, ...).

What it measures, on the local backend through `devspacesd --stdio` (the path editors use:
app stdout -> agent -> daemon -> fan-out -> client queue -> Unix socket -> bridge -> stdio):
  1. latency from a line printed by the app (its wall-clock time is in the line) to its arrival
     at the client, one line every millisecond (p50, p90, p99 ms); target p50 <= 5 ms
  2. throughput to one client: a burst of N lines printed as fast as the app can, counted from
     the request that starts the burst to the last line's arrival (lines/s); target >= 50k
  3. a slow client: a second client watches the session and stops reading. The same burst to the
     fast client must not get slower, nor the app; the slow client, once it reads again, gets
     `devspaces/logsDropped` counts that add up with the lines it received to exactly N.

The fixture app is examples/python-web with its app.py replaced by bench_app.py, a printer of
timestamped lines (GET /burst?n=N, GET /paced?n=N&ms=M). Python 3 standard library only. Everything runs
in one temp dir that is removed at the end; every process started here is stopped by its PID.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from common import BENCH_APP, REPO, get

EXAMPLE = os.path.join(REPO, "examples", "python-web")

TARGET_P50_MS = 5.0
TARGET_LINES_PER_S = 50_000
WAIT = 120.0



class Msg(dict):
    """A message parsed on first use (most log lines are only counted)."""

    def __init__(self, raw):
        super().__init__()
        self.raw = raw
        self.parsed = False

    def _parse(self):
        if not self.parsed:
            self.update(json.loads(self.raw))
            self.parsed = True

    def get(self, k, d=None):
        self._parse()
        return super().get(k, d)

    def __getitem__(self, k):
        self._parse()
        return super().__getitem__(k)

    def __contains__(self, k):
        self._parse()
        return super().__contains__(k)


class Client:
    """`devspacesd --stdio` with a reader thread (unless `reading` is False until resume())."""

    def __init__(self, binary, env, reading=True):
        self.p = subprocess.Popen([binary, "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.lock = threading.Condition()
        self.msgs = []  # (arrival ns, message)
        self.next_id = 0
        self.thread = None
        if reading:
            self.resume()

    def resume(self):
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        # Chunked reads and lazy JSON: the client must not be the bottleneck it measures.
        fd = self.p.stdout.fileno()
        buf = b""
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return
            now = time.time_ns()
            buf += chunk
            got = []
            pos = 0
            while True:
                h = buf.find(b"\r\n\r\n", pos)
                if h < 0:
                    break
                length = int(buf[pos:h].split(b":", 1)[1])
                end = h + 4 + length
                if end > len(buf):
                    break
                got.append((now, Msg(buf[h + 4:end])))
                pos = end
            buf = buf[pos:]
            if got:
                with self.lock:
                    self.msgs.extend(got)
                    self.lock.notify_all()

    def send(self, obj):
        b = json.dumps(obj).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b)
        self.p.stdin.flush()

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def wait(self, what, pred, start=0, timeout=WAIT):
        deadline = time.time() + timeout
        with self.lock:
            i = start
            while True:
                while i < len(self.msgs):
                    if pred(self.msgs[i][1]):
                        return i, self.msgs[i]
                    i += 1
                left = deadline - time.time()
                if left <= 0:
                    raise SystemExit("timed out waiting for %s" % what)
                self.lock.wait(left)

    def call(self, method, params):
        i = self.request(method, params)
        _, (_, m) = self.wait("the answer to %s" % method, lambda m: m.get("id") == i and "method" not in m)
        if "error" in m:
            raise SystemExit("%s failed: %s" % (method, m["error"]))
        return m["result"]

    def count(self):
        with self.lock:
            return len(self.msgs)

    def close(self):
        try:
            self.call("shutdown", None)
            self.send({"jsonrpc": "2.0", "method": "exit"})
        except (BrokenPipeError, SystemExit):
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def http_get(port, path):
    return get(port, path, WAIT).split(b"\r\n\r\n", 1)[1].decode()


def tagged(tag):
    prefix = tag + " "

    def pred(m):
        return m.get("method") == "devspaces/log" and m["params"]["line"].startswith(prefix)
    return pred


def burst(fast, port, tag, n, rate=0):
    """Starts a burst in the app and waits until the fast client has its last line."""
    start_count = fast.count()
    t0 = time.time_ns()
    app_s = float(http_get(port, "/burst?n=%d&tag=%s&rate=%d" % (n, tag, rate)))
    marker = b'"line":"%s ' % tag.encode()
    seen = {"got": 0, "dropped": 0, "agent_dropped": 0, "i": start_count}
    t_last = t0

    def account(m):
        raw = m.raw
        if marker in raw:
            seen["got"] += 1
        elif b"devspaces/logsDropped" in raw:
            seen["dropped"] += m["params"]["count"]
        elif b"log lines dropped: the client was too slow" in raw:
            seen["agent_dropped"] += int(m["params"]["line"].split()[0])
        return seen["got"] + seen["dropped"] + seen["agent_dropped"] >= n

    deadline = time.time() + WAIT
    while True:
        with fast.lock:
            while seen["i"] < len(fast.msgs):
                t, m = fast.msgs[seen["i"]]
                seen["i"] += 1
                if account(m):
                    t_last = t
                    break
            else:
                if time.time() > deadline:
                    raise SystemExit("timed out waiting for the %s burst (%s)" % (tag, seen))
                fast.lock.wait(1)
                continue
            break
    got, dropped, agent_dropped = seen["got"], seen["dropped"], seen["agent_dropped"]
    secs = (t_last - t0) / 1e9
    return {"lines_per_s": got / secs if secs > 0 else 0, "secs": secs, "got": got, "dropped": dropped, "agent_dropped": agent_dropped, "app_s": app_s}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "devspacesd"))
    ap.add_argument("--build", action="store_true", help="cargo build --release -p devspacesd first")
    ap.add_argument("--lines", type=int, default=200_000, help="lines per burst")
    ap.add_argument("--paced", type=int, default=2000, help="lines for the latency measurement")
    ap.add_argument("--rate", type=int, default=60_000, help="lines per second of the sustained bursts")
    ap.add_argument("--out", help="also write the table to this Markdown file")
    args = ap.parse_args()
    if args.build:
        subprocess.check_call(["nice", "cargo", "build", "--release", "-q", "-p", "devspacesd"], cwd=REPO)
    if not os.access(args.bin, os.X_OK):
        print("no executable at %s (build it: cargo build --release -p devspacesd)" % args.bin, file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="devspaces-bench-protocol-")
    state = os.path.join(work, "state")
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp)
    svc = os.path.join(work, "bench-logs")
    shutil.copytree(EXAMPLE, svc)
    shutil.copyfile(BENCH_APP, os.path.join(svc, "app.py"))
    env = dict(os.environ, DEVSPACES_STATE_DIR=state, TMPDIR=tmp, DEVSPACES_IDLE_SECS="5", NO_COLOR="1")
    clients = []
    daemon_pid = None
    try:
        fast = Client(args.bin, env)
        clients.append(fast)
        fast.call("initialize", {"processId": os.getpid(), "capabilities": {}})
        fast.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        with open(os.path.join(state, "daemon.pid")) as f:
            daemon_pid = int(f.read().strip())
        up = fast.call("devspaces/up", {"path": svc})
        session = up["session"]
        _, (_, fwd) = fast.wait("the port forward", lambda m: m.get("method") == "devspaces/portForward" and m["params"]["state"] == "open")
        port = fwd["params"]["localPort"]
        fast.wait("running", lambda m: m.get("method") == "devspaces/serviceStatus" and m["params"]["phase"] == "running")
        fast.wait("the app's banner", lambda m: m.get("method") == "devspaces/log" and "bench-app listening" in m["params"]["line"])

        burst(fast, port, "warmup", 2000)

        # 1. latency, one line per millisecond.
        start = fast.count()
        http_get(port, "/paced?n=%d&ms=1&tag=paced" % args.paced)
        fast.wait("the last paced line", lambda m: m.get("method") == "devspaces/log" and m["params"]["line"].startswith("paced %d " % (args.paced - 1)), start=start)
        with fast.lock:
            lat = [(t - int(m["params"]["line"].split()[2])) / 1e6 for t, m in fast.msgs[start:] if tagged("paced")(m)]

        # 2. throughput to one client: sustained at a set rate, then as fast as the app can print.
        alone = burst(fast, port, "alone", args.lines, args.rate)
        flat_out = burst(fast, port, "flatout", args.lines)

        # 3. the same burst with a second client that watches and does not read.
        slow = Client(args.bin, env, reading=False)
        clients.append(slow)
        slow.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": os.getpid(), "capabilities": {}}})
        slow.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        slow.send({"jsonrpc": "2.0", "id": 2, "method": "devspaces/watch", "params": {"session": session}})
        # The watch is in place once the daemon counts it (asked through the fast client).
        deadline = time.time() + WAIT
        while fast.call("devspaces/status", {})["sessions"][0]["watchers"] < 2:
            if time.time() > deadline:
                raise SystemExit("the slow client never watched")
            time.sleep(0.01)
        with_slow = burst(fast, port, "slow", args.lines, args.rate)
        slow.resume()
        _, _ = slow.wait("the slow client's drop count", lambda m: m.get("method") == "devspaces/logsDropped")
        # Everything queued for it arrives, then the count of what was not.
        slow.call("devspaces/status", {})
        deadline = time.time() + WAIT
        while True:
            with slow.lock:
                got = sum(1 for _, m in slow.msgs if tagged("slow")(m))
                dropped = sum(m["params"]["count"] for _, m in slow.msgs if m.get("method") == "devspaces/logsDropped")
            if got + dropped >= args.lines or time.time() > deadline:
                break
            time.sleep(0.05)

        fast.call("devspaces/down", {"session": session})
    finally:
        for c in clients:
            c.close()
        if daemon_pid:
            try:
                os.kill(daemon_pid, signal.SIGTERM)
                for _ in range(600):
                    os.kill(daemon_pid, 0)
                    if open("/proc/%d/stat" % daemon_pid).read().split(") ")[1].startswith("Z"):
                        break
                    time.sleep(0.05)
            except (ProcessLookupError, FileNotFoundError):
                pass
        try:
            with open(os.path.join(state, "daemon.log")) as f:
                for line in f:
                    if "behind" in line or "lost" in line:
                        print("daemon.log: " + line.rstrip(), file=sys.stderr)
        except OSError:
            pass
        shutil.rmtree(work, ignore_errors=True)

    p50, p90, p99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
    ok = lambda b: "yes" if b else "**no**"
    rows = [
        ("latency p50, app print -> client (ms)", "%.2f" % p50, "<= %.0f" % TARGET_P50_MS, ok(p50 <= TARGET_P50_MS)),
        ("latency p90 (ms)", "%.2f" % p90, "", ""),
        ("latency p99 (ms)", "%.2f" % p99, "", ""),
        ("sustained: throughput to one client (lines/s)", "%.0f" % alone["lines_per_s"], ">= %d" % TARGET_LINES_PER_S, ok(alone["lines_per_s"] >= TARGET_LINES_PER_S)),
        ("  lines lost by that client", "%d" % (args.lines - alone["got"]), "0", ok(alone["got"] == args.lines)),
        ("  of which before the server (agent) / for this client (logsDropped)", "%d / %d" % (alone["agent_dropped"], alone["dropped"]), "", ""),
        ("  app's own time to print the burst (s)", "%.3f" % alone["app_s"], "", ""),
        ("flat out: lines delivered per second", "%.0f" % flat_out["lines_per_s"], ">= %d" % TARGET_LINES_PER_S, ok(flat_out["lines_per_s"] >= TARGET_LINES_PER_S)),
        ("  app's own time to print the burst (s)", "%.3f" % flat_out["app_s"], "", ""),
        ("  dropped before the server (agent, reported as a system line)", "%d" % flat_out["agent_dropped"], "", ""),
        ("  dropped for this client (reported by logsDropped)", "%d" % flat_out["dropped"], "", ""),
        ("  lost without a report", "%d" % (args.lines - flat_out["got"] - flat_out["dropped"] - flat_out["agent_dropped"]), "0", ok(flat_out["got"] + flat_out["dropped"] + flat_out["agent_dropped"] == args.lines)),
        ("sustained, with a non-reading client beside it (lines/s)", "%.0f" % with_slow["lines_per_s"], ">= %d" % TARGET_LINES_PER_S, ok(with_slow["lines_per_s"] >= TARGET_LINES_PER_S)),
        ("  lines lost by the fast client", "%d" % (args.lines - with_slow["got"]), "0", ok(with_slow["got"] == args.lines)),
        ("  of which before the server (agent) / for this client (logsDropped)", "%d / %d" % (with_slow["agent_dropped"], with_slow["dropped"]), "", ""),
        ("  app's own time to print the burst (s)", "%.3f" % with_slow["app_s"], "not slower", ok(with_slow["app_s"] <= alone["app_s"] * 1.2 + 0.05)),
        ("slow client: lines received", "%d" % got, "", ""),
        ("slow client: reported by logsDropped", "%d" % dropped, "> 0", ok(dropped > 0)),
        ("slow client: received + dropped = burst", "%d = %d" % (got + dropped, args.lines), "equal", ok(got + dropped == args.lines)),
    ]
    out = ["## Editor protocol: log path (`devspacesd --stdio`, %s build)\n" % os.path.basename(os.path.dirname(args.bin))]
    out.append("Bursts of %d lines (sustained: %d lines/s; flat out: as fast as the app prints); latency over %d lines printed 1 ms apart; %d CPUs, %s.\n" % (args.lines, args.rate, len(lat), os.cpu_count(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    out.append("| measurement | value | target | met |")
    out.append("|---|---|---|---|")
    for r in rows:
        out.append("| %s | %s | %s | %s |" % r)
    text = "\n".join(out) + "\n"
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
