#!/usr/bin/env python3
"""Benchmark of the Kubernetes backend on the cluster of tests/cluster/ (issue 5, "Done when" 4).

Not a test: it measures and prints a Markdown table; a missed target is reported, not an error.
Needs `eval "$(tests/cluster/env)"` (KUBECONFIG, DEVSPACES_REGISTRY) and the static agent
(scripts/build-static-agent.sh; tests/bench/run-kube.sh does both).

Measurements, on examples/python-web in a fresh space:
  1. first `up`: from starting `devspacesd up --backend kubernetes` to the page served on
     http://localhost:<port> (build, push, helm upgrade --install, pod ready, sync, restart)
  2. static-sync: edit static/index.html -> the marker served through the port-forward
  3. process-restart: edit version.py -> the new version served; split into what the app costs
     itself (py_compile + python start to "listening", both timed by the agent's clock in the pod)
     and what devspaces adds (the rest: watch, sync, restart request, forward)
  4. redeploy: edit Dockerfile.develop -> the new pod serving behind the same local port
  5. a new pod's first sync: with --gen-files generated files (2 KB each) under static/gen/,
     synced into the pod, a redeploy builds them into the new image; its first sync asks the
     agent what the image holds and sends only what differs (the `Synchronizing files...` line:
     files sent, files already in the container, ms). Beside it, the same workspace's first sync
     without the check: a second session, in a second space, with DEVSPACES_SYNC_CHECK=off, whose
     first `up` builds the same files into its image and then sends every one to the new pod

Python 3 standard library only; reuses local.py's session and HTTP helpers. The space (namespace)
is removed at the end; processes started here are stopped by PID.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import shutil
import time
import re
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local as L  # noqa: E402

TARGET_STATIC_P50_MS = 15.0
TARGET_RESTART_OVERHEAD_P50_MS = 40.0


def marks_since(sess, before):
    """Agent-clock times (epoch s) of this round's build start, app start and app listening."""
    m = {}
    for ev in sess.all[before:]:
        p = ev.get("params", {})
        if ev.get("method") != "devspaces/log" or "time" not in p:
            continue
        line, t = p.get("line", ""), L.parse_time(p["time"])
        if p.get("stream") == "build" and line.startswith("$ ") and "build" not in m:
            m["build"] = t
        elif p.get("stream") == "system" and line.startswith("started '") and "started" not in m:
            m["started"] = t
        elif p.get("stream") == "stdout" and "listening on" in line and "listening" not in m:
            m["listening"] = t
    return m


SYNC_LINE = re.compile(r"Synchronizing files\.\.\.full: (\d+) sent, (\d+) deleted, [^,]*?(?:, (\d+) already in the container)? in (\d+) ms")


def full_sync(events, what):
    """The first `Synchronizing files...full:` line among events: files sent, held, ms, the line."""
    lines = [e["params"]["line"] for e in events if e.get("method") == "devspaces/log"
             and e["params"].get("line", "").startswith("Synchronizing files...")]
    m = SYNC_LINE.search(lines[0]) if lines else None
    if m is None:
        raise L.BenchError("no full sync line %s: %s" % (what, lines))
    return {"sent": int(m.group(1)), "held": int(m.group(3) or 0), "ms": float(m.group(4)), "line": lines[0]}


def gen_files(svc, n, tag):
    """Writes n files of 2 KB under static/gen/ and returns their service-relative paths."""
    gen = os.path.join(svc, "static", "gen")
    os.makedirs(gen, exist_ok=True)
    rels = []
    for i in range(n):
        rel = "static/gen/f%05d.txt" % i
        with open(os.path.join(svc, rel), "w") as f:
            f.write(("%s %d " % (tag, i)).ljust(2048, "x"))
        rels.append(rel)
    return rels


def wait_synced(sess, rels, timeout=300):
    """Waits until synced events have named every path in rels; returns those events."""
    left, events = set(rels), []
    while left:
        ev = sess.wait_for(lambda e: e.get("method") == "devspaces/synced"
                           and any(f in left for f in e["params"].get("files", [])), timeout, "%d files synced" % len(left))
        left -= set(ev["params"]["files"])
        events.append(ev)
    return events


def bench(binary, n_static, n_restart, n_redeploy, warmup, n_gen=0):
    registry = os.environ.get("DEVSPACES_REGISTRY")
    if not registry or not os.environ.get("KUBECONFIG"):
        raise L.BenchError('run `eval "$(tests/cluster/env)"` first (KUBECONFIG and DEVSPACES_REGISTRY)')
    os.environ["PYTHON_IMAGE"] = "%s/devspaces/python:bookworm" % registry
    work = tempfile.mkdtemp(prefix="devspaces-kbench-")
    space = "dsb" + uuid.uuid4().hex[:6]
    r = {"space": space}
    sess = None
    try:
        svc = L.copy_example(work, "python-web")
        t0 = L.now_ns()
        sess = L.Session(binary, svc, work, "kube", extra_args=["--backend", "kubernetes", "--space", space])
        sess.wait_running(timeout=600)
        t1, _ = L.poll_until(sess.port, "/", "python-web", sess=sess)
        r["first_up_s"] = (t1 - t0) / 1e9
        port = sess.port
        L.drain_quiet(sess, 0.3)
        # Each GET on a new connection: what a page load pays for the port-forward.
        r["roundtrip"] = L.measure_roundtrip(port, "/", 100)

        index = os.path.join(svc, "static", "index.html")
        with open(index) as f:
            page = f.read()
        static = []
        for i in range(warmup + n_static):
            marker = "kbench-static-%d-%s" % (i, uuid.uuid4().hex[:8])
            t0 = L.now_ns()
            L.write_file(index, page + "\n<!-- %s -->\n" % marker)
            t1, _ = L.poll_until(port, "/", marker, sess=sess)
            if i >= warmup:
                static.append((t1 - t0) / 1e6)
            L.drain_quiet(sess, 0.05)
        r["static"] = static

        ver = os.path.join(svc, "version.py")
        total, own, build_ms, start_ms, to_build, to_served = [], [], [], [], [], []
        for i in range(warmup + n_restart):
            version = "kbench-%d-%s" % (i, uuid.uuid4().hex[:8])
            before = len(sess.all)
            old = sess.app_pid
            w0 = time.time()
            t0 = L.now_ns()
            L.write_file(ver, 'VERSION = "%s"\n' % version)
            t1, _ = L.poll_until(port, "/version", version + "\n", sess=sess)
            sess.wait_running(timeout=60, other_than=old)
            L.drain_quiet(sess, 0.2)
            m = marks_since(sess, before)
            if i < warmup:
                continue
            dt = (t1 - t0) / 1e6
            total.append(dt)
            if "build" in m and "listening" in m:
                own.append((m["listening"] - m["build"]) * 1000)
                build_ms.append((m.get("started", m["build"]) - m["build"]) * 1000)
                start_ms.append((m["listening"] - m.get("started", m["build"])) * 1000)
                # The pod shares this machine's clock (one node): the edges around the app's own part.
                to_build.append((m["build"] - w0) * 1000)
                to_served.append(dt - (m["listening"] - w0) * 1000)
            else:
                L.note("restart %d: missing agent log marks %s" % (i, sorted(m)))
        r["restart"] = total
        r["restart_own"] = own
        r["restart_build"] = build_ms
        r["restart_start"] = start_ms
        r["restart_to_build"] = to_build
        r["restart_to_served"] = to_served
        r["restart_overhead"] = [t - o for t, o in zip(total, own)] if len(own) == len(total) else []
        with open(ver) as f:
            current = f.read().split('"')[1]

        df = os.path.join(svc, "Dockerfile.develop")
        redeploy = []
        for i in range(n_redeploy):
            before = len(sess.all)
            t0 = L.now_ns()
            with open(df, "a") as f:
                f.write("ENV KBENCH_REDEPLOY=%d\n" % i)
            sess.wait_for(lambda e: e.get("method") == "devspaces/serviceStatus" and e["params"].get("phase") == "deploying", 60, "deploying")
            sess.wait_running(timeout=600)
            t1, _ = L.poll_until(port, "/version", current, sess=sess)
            redeploy.append((t1 - t0) / 1e9)
            if sess.port != port:
                L.note("redeploy %d moved the forward from port %d to %d" % (i, port, sess.port))
            L.drain_quiet(sess, 0.3)
            del before
        r["redeploy"] = redeploy

        if n_gen:
            # 5. A new pod's first sync, on a workspace with n_gen more files.
            rels = gen_files(svc, n_gen, "one")
            wait_synced(sess, rels)
            L.drain_quiet(sess, 0.3)
            before = len(sess.all)
            with open(df, "a") as f:
                f.write("ENV KBENCH_FIRST_SYNC=1\n")
            sess.wait_for(lambda e: e.get("method") == "devspaces/serviceStatus" and e["params"].get("phase") == "deploying", 60, "deploying")
            sess.wait_running(timeout=600)
            # The sync line comes before the app runs: look among the events since the edit.
            r["first_sync"] = dict(full_sync(sess.all[before:], "after the redeploy"), gen=n_gen)
            L.poll_until(port, "/version", current, sess=sess)
            sess.stop(timeout=120)
            sess = None
            # The same first sync without the check: a session of its own, in a space of its own.
            r["space_nocheck"] = space + "n"
            sess = L.Session(binary, svc, work, "kube-nocheck", extra_env={"DEVSPACES_SYNC_CHECK": "off"},
                             extra_args=["--backend", "kubernetes", "--space", r["space_nocheck"]])
            sess.wait_running(timeout=600)
            r["send_all"] = full_sync(sess.all, "in the session without the check")
    finally:
        if sess is not None:
            sess.stop(timeout=120)
        for ns in (space, r.get("space_nocheck")):
            if ns:
                subprocess.run(["kubectl", "delete", "ns", ns, "--ignore-not-found", "--wait=false"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return r


def row(name, values, unit, target=None, fmt="%.1f"):
    if not values:
        return "| %s | - | - | - | - | %s |" % (name, "no samples")
    p50, p90 = L.pct(values, 50), L.pct(values, 90)
    verdict = ""
    if target is not None:
        verdict = "target <= %s %s: %s" % (fmt % target, unit, "met" if p50 <= target else "NOT met")
    return "| %s | %d | %s | %s | %s | %s |" % (name, len(values), fmt % p50, fmt % p90, fmt % max(values), verdict)


def report(r, args):
    lines = [
        "# Kubernetes backend benchmark",
        "",
        "Generated by `tests/bench/run-kube.sh` on %s (%s, %d CPUs, load %s) against the cluster of "
        "tests/cluster/ (one node, containerd + runc, registry on the node; images pushed)."
        % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), platform.machine(), os.cpu_count() or 0, L.loadavg()),
        "Method: docs/benchmarks.md (Kubernetes backend). Times are from the edit's write to the first "
        "HTTP response through `http://localhost:<port>` that shows it.",
        "",
        "| measurement | n | p50 | p90 | max | target |",
        "|---|---|---|---|---|---|",
        "| first `up` to page served (s) | 1 | %.1f | | | |" % r["first_up_s"],
        row("static-sync edit -> served (ms)", r["static"], "ms", TARGET_STATIC_P50_MS),
        row("process-restart edit -> served (ms)", r["restart"], "ms"),
        row("  of which the app's own py_compile + start (ms)", r["restart_own"], "ms"),
        row("    py_compile (ms)", r["restart_build"], "ms"),
        row("    python start to listening (ms)", r["restart_start"], "ms"),
        row("  devspaces' part above the app's own (ms)", r["restart_overhead"], "ms", TARGET_RESTART_OVERHEAD_P50_MS),
        row("    save -> `$ py_compile` in the pod (watch, sync, request, the old app stopped; ms)",
            r.get("restart_to_build", []), "ms"),
        row("    `listening on` -> new version served (the forward, the poll that lands; ms)",
            r.get("restart_to_served", []), "ms"),
        row("redeploy edit -> new pod serving (s)", r["redeploy"], "s"),
        row("one GET through the forward, a new connection each (ms)", r.get("roundtrip", []), "ms", fmt="%.2f"),
        "",
    ]
    if "first_sync" in r:
        fs, sa = r["first_sync"], r["send_all"]
        lines += [
            "A new pod's first sync, with %d generated 2 KB files under static/gen/ (%d files synced in all), "
            "after a redeploy built them into the image:" % (fs["gen"], fs["held"] + fs["sent"]),
            "",
            "| measurement | files sent | ms |",
            "|---|---|---|",
            "| first sync of the new pod (%d already in the container) | %d | %.0f |" % (fs["held"], fs["sent"], fs["ms"]),
            "| the same, without the check (`DEVSPACES_SYNC_CHECK=off`, a session of its own: its first `up`) "
            "| %d | %.0f |" % (sa["sent"], sa["ms"]),
            "",
            "Their sync lines: `%s`; `%s`." % (fs["line"], sa["line"]),
            "",
        ]
    publish(lines, args.out)


def publish(lines, out):
    """Prints the results table (with the run's notes) and writes it to `out` when given."""
    if L.OBSERVATIONS:
        lines = lines + ["Notes:", ""] + ["- " + o for o in L.OBSERVATIONS] + [""]
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out")
    ap.add_argument("-n", type=int, default=20, help="static edits")
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--redeploys", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--gen-files", type=int, default=5000, help="generated files for the first-sync measurement (0: skip)")
    args = ap.parse_args()
    try:
        r = bench(args.bin, args.n, args.restarts, args.redeploys, args.warmup, args.gen_files)
    except L.BenchError as e:
        print("benchmark failed: %s" % e, file=sys.stderr)
        return 1
    report(r, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
