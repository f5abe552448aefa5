#!/usr/bin/env python3
"""Benchmark of the container backend on a Docker engine (issue 14, "Done when" 3), beside
`docker compose watch` on the same app when a Compose binary is given.

Not a test: it measures and prints a Markdown table; a missed target is reported, not an error.
Needs DOCKER_HOST (`eval "$(tests/engine/env)"`), the image devspaces/python:bookworm in the engine
and the static agent (scripts/build-static-agent.sh); tests/bench/run-container.sh does all that
and builds Compose (tests/bench/build-compose.sh).

The app: examples/python-web with a develop Dockerfile of the usual shape (FROM the build arg
PYTHON_IMAGE, `COPY requirements.txt`, one `RUN` step that stands in for `pip install` and writes
static/deps.txt from requirements.txt, `COPY . .`). Each tool gets its own copy, whose
requirements.txt names this run and the tool, so neither reuses the other's (or an earlier run's)
`RUN` layer; the engine's cache may still hold the layers before it (reported).

Measurements, devspaces (`devspacesd up --backend container --json`) and Compose alike:
  1. first `up`: from starting the tool to the page served on its localhost port
  2. static-sync: edit static/style.css -> the marker served (GET /static/style.css)
  3. process-restart: edit version.py -> the new version served (GET /version); the app's own
     kill-and-start (and devspaces' py_compile build command) is measured inside the same
     container by the BASELINE script below (run with `docker exec`) after each round
  4. redeploy: edit requirements.txt or the Dockerfile's RUN line (alternately) -> the new
     container serves the new static/deps.txt

The tools run at the same time and their rounds alternate, so machine load hits both alike.
Python 3 standard library and the docker CLI only. Everything is created in a temp dir and
removed at the end; processes started here are stopped by PID.
"""

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local as L  # noqa: E402
import kube as K  # noqa: E402

TARGET_STATIC_P50_MS = 20.0
TARGET_RESTART_OVERHEAD_P50_MS = 30.0
BASE_IMAGE = "devspaces/python:bookworm"
APP_PORT = 8080

DOCKERFILE = '''# python-web development image, as examples/python-web's, with a dependency step.
ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}
ARG APP_ENV=development
WORKDIR /app
ENV PYTHONUNBUFFERED=1
ENV PORT=8080
ENV APP_ENV=${APP_ENV}
COPY requirements.txt ./
# Stands in for `pip install -r requirements.txt` (the engine reaches no package index here).
RUN mkdir -p static && cp requirements.txt static/deps.txt && echo "%s" >> static/deps.txt
COPY . .
EXPOSE 8080
CMD ["python3", "app.py"]
'''

COMPOSE = '''services:
  web:
    build:
      context: .
      dockerfile: Dockerfile.develop
      # The test engine has no default bridge (--bridge=none): RUN steps use the host's network.
      network: host
      args:
        PYTHON_IMAGE: %(image)s
    ports:
      - "127.0.0.1:%(port)d:8080"
    develop:
      watch:
        - action: sync
          path: ./static
          target: /app/static
        - action: sync+restart
          path: ./version.py
          target: /app/version.py
        - action: sync+restart
          path: ./app.py
          target: /app/app.py
        - action: rebuild
          path: ./requirements.txt
        - action: rebuild
          path: ./Dockerfile.develop
'''

# Runs inside the app's container (`docker exec -i CONTAINER python3 - ROOT`): the app's own
# kill-and-start as local.py's Baseline defines it, and the build command alone, with no tool in
# between. A copy of the app in a temp folder serves on another port; edit version.py, then from
# just before SIGTERM to app A until app B (spawned as soon as A exited) serves the new version.
# Prints one JSON line {"total": ms, "stop": ms, "pyc": ms}.
BASELINE = r'''
import http.client, json, os, shutil, signal, subprocess, sys, tempfile, time, uuid
root = sys.argv[1]
d = tempfile.mkdtemp(prefix="bench-baseline-")
for f in ("app.py", "version.py"):
    shutil.copy(os.path.join(root, f), d)
shutil.copytree(os.path.join(root, "static"), os.path.join(d, "static"))
port = 18000 + os.getpid() % 1000
env = dict(os.environ, PORT=str(port), PYTHONUNBUFFERED="1")
def write(v):
    with open(os.path.join(d, "version.py"), "w") as f:
        f.write('VERSION = "%s"\n' % v)
def get():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", "/version", headers={"Connection": "close"})
        r = c.getresponse()
        return r.read() if r.status == 200 else b""
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        c.close()
def until(v):
    want, end = (v + "\n").encode(), time.monotonic() + 30
    while get() != want:
        if time.monotonic() > end:
            sys.exit("baseline: %s never served" % v)
    return time.perf_counter_ns()
def spawn():
    return subprocess.Popen([sys.executable, "app.py"], cwd=d, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
# v0 and v1 differ in length: a .pyc is checked by the source's mtime in seconds and its size.
v0 = "b0"
write(v0)
a = spawn()
until(v0)
v1 = "b1-" + uuid.uuid4().hex[:8]
write(v1)
t0 = time.perf_counter_ns()
a.send_signal(signal.SIGTERM)
a.wait(10)
t_exit = time.perf_counter_ns()
b = spawn()
t1 = until(v1)
write("b2-" + uuid.uuid4().hex[:8])
p0 = time.perf_counter_ns()
subprocess.run([sys.executable, "-m", "py_compile", "app.py", "version.py"], cwd=d, check=True)
p1 = time.perf_counter_ns()
b.send_signal(signal.SIGTERM)
b.wait(10)
shutil.rmtree(d, ignore_errors=True)
print(json.dumps({"total": (t1 - t0) / 1e6, "stop": (t_exit - t0) / 1e6, "pyc": (p1 - p0) / 1e6}))
'''


def docker(*args, check=True, timeout=120, stdin=None):
    p = subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise L.BenchError("docker %s: %s" % (" ".join(args), (p.stderr or p.stdout).strip()[-1500:]))
    return p.stdout


def baseline_in(container):
    """One round of BASELINE in the container: {"total", "stop", "pyc"} in ms."""
    out = docker("exec", "-i", container, "python3", "-", "/app", stdin=BASELINE, timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def make_service(work, name, run_id):
    """A copy of examples/python-web with the develop Dockerfile above and requirements.txt."""
    svc = L.copy_example(work, name)
    with open(os.path.join(svc, "Dockerfile.develop"), "w") as f:
        f.write(DOCKERFILE % ("df-%s" % run_id))
    L.write_file(os.path.join(svc, "requirements.txt"), "# %s %s\n" % (name, run_id))
    return svc


def engine_objects(words):
    """The engine's containers and networks whose names have one of words (the run's space and
    Compose project), and its images (with -a: the classic builder's intermediate ones too) as
    "id repo:tag": what a run must leave as it found. The engine is shared with other sessions,
    so containers and networks are matched by name, images by being new since the start."""
    def named(*cmd):
        return set(n for n in docker(*cmd).split() if any(w in n for w in words))
    return (named("ps", "-a", "--format", "{{.Names}}"),
            set(docker("images", "-a", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").splitlines()),
            named("network", "ls", "--format", "{{.Name}}"))


class Devspaces:
    """`devspacesd up --backend container` in a space of its own (the container's name has the
    space, the service and the build number)."""

    name = "devspaces"

    def __init__(self, binary, work, run_id):
        self.svc = make_service(work, "ds-web", run_id)
        self.space = "cb" + run_id
        self.sess = None
        self.binary, self.work = binary, work
        self.first_build_lines = []

    def start(self):
        self.sess = L.Session(self.binary, self.svc, self.work, "container",
                              extra_args=["--backend", "container", "--space", self.space])
        self.sess.wait_running(timeout=600)
        self.port = self.sess.port
        self.first_build_lines = [e["params"].get("line", "") for e in self.sess.all
                                  if e.get("method") == "devspaces/log" and e["params"].get("stream") == "build"]

    def ready(self):
        L.drain_quiet(self.sess, 0.3)

    def container(self):
        out = docker("ps", "-q", "--filter", "label=devspaces.space=%s" % self.space).split()
        if len(out) != 1:
            raise L.BenchError("expected one running container of space %s, found %d" % (self.space, len(out)))
        return out[0]

    def cache_hits(self):
        return sum(1 for line in self.first_build_lines if "Using cache" in line)

    def after_static(self):
        L.drain_quiet(self.sess, 0.05)

    def restart_round(self, ver, version):
        """Edit -> served (ms) and the agent's marks of the round (py_compile, start, listening)."""
        before = len(self.sess.all)
        old = self.sess.app_pid
        w0 = time.time()
        t0 = L.now_ns()
        L.write_file(ver, 'VERSION = "%s"\n' % version)
        t1, _ = L.poll_until(self.port, "/version", version + "\n", sess=self.sess)
        self.sess.wait_running(timeout=60, other_than=old)
        L.drain_quiet(self.sess, 0.2)
        marks = K.marks_since(self.sess, before)
        marks["save"] = w0  # the agent's clock is the host's: the container shares its kernel
        return (t1 - t0) / 1e6, marks

    def check_alive(self):
        self.sess.check_alive()

    def after_redeploy(self):
        """The round's `deploying` and the new container's `running` (already read, as a rule)."""
        self.sess.wait_for(lambda e: e.get("method") == "devspaces/serviceStatus"
                           and e["params"].get("phase") == "deploying", 60, "deploying")
        self.sess.wait_running(timeout=600)
        if self.sess.port != self.port:
            L.note("devspaces: a redeploy moved the forward from port %d to %d" % (self.port, self.sess.port))
        L.drain_quiet(self.sess, 0.3)

    def poll(self, path, want, deadline_s=30.0):
        return L.poll_until(self.port, path, want, deadline_s=deadline_s, sess=self.sess)[0]

    def stop(self):
        if self.sess is None:
            return
        t0 = L.now_ns()
        self.sess.stop(timeout=120)
        self.stop_ms = L.ms_since(t0)
        code = self.sess.proc.returncode
        if code != 0:
            L.note("devspaces: `up` exited with code %s after SIGINT" % code)
        self.exit_code = code


class Compose:
    """`docker-compose watch` (the binary run directly) on its own copy of the app."""

    name = "compose watch"

    def __init__(self, binary, work, run_id):
        self.binary = binary
        self.svc = make_service(work, "compose-web", run_id)
        self.project = "cbench" + run_id
        self.port = L.free_port()
        with open(os.path.join(self.svc, "compose.yaml"), "w") as f:
            f.write(COMPOSE % {"image": BASE_IMAGE, "port": self.port})
        # compose watch skips every path its build context's .dockerignore lists, and the example's
        # lists `Dockerfile*`: its `rebuild` rule for Dockerfile.develop would never fire (seen
        # with v2.40.3). Compose's copy has that line removed; devspaces' keeps it.
        di = os.path.join(self.svc, ".dockerignore")
        with open(di) as f:
            lines = f.read().splitlines()
        L.write_file(di, "\n".join(x for x in lines if x.strip() != "Dockerfile*") + "\n")
        self.log_path = os.path.join(work, "compose-watch.log")
        self.proc = None
        self.env = dict(os.environ, DOCKER_CONFIG=os.path.join(work, "docker-config"))
        os.makedirs(self.env["DOCKER_CONFIG"], exist_ok=True)

    def cmd(self, *args):
        return [self.binary, "--project-directory", self.svc, "-f", os.path.join(self.svc, "compose.yaml"),
                "-p", self.project] + list(args)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def check_alive(self):
        if self.proc.poll() is not None:
            raise L.BenchError("compose watch exited (code %s): %s" % (self.proc.returncode, self.log()[-2000:]))

    def start(self):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd("watch"), cwd=self.svc, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.poll("/version", "1.0.0", deadline_s=600)

    def ready(self):
        end = time.monotonic() + 60
        while "Watch enabled" not in self.log():
            self.check_alive()
            if time.monotonic() > end:
                raise L.BenchError("compose watch never said 'Watch enabled': %s" % self.log()[-2000:])
            time.sleep(0.05)

    def container(self):
        return "%s-web-1" % self.project

    def cache_hits(self):
        text = self.log()
        return sum(1 for line in text.splitlines() if line.rstrip().endswith("CACHED") and "FROM" not in line)

    def after_static(self):
        time.sleep(0.05)

    def restart_round(self, ver, version):
        t0 = L.now_ns()
        L.write_file(ver, 'VERSION = "%s"\n' % version)
        t1 = self.poll("/version", version + "\n")
        time.sleep(0.2)
        return (t1 - t0) / 1e6, {}

    def after_redeploy(self):
        time.sleep(0.3)

    def poll(self, path, want, deadline_s=30.0):
        end = time.monotonic() + deadline_s
        while True:
            try:
                return L.poll_until(self.port, path, want, deadline_s=min(5.0, deadline_s))[0]
            except L.BenchError:
                self.check_alive()
                if time.monotonic() > end:
                    raise

    def stop(self):
        if self.proc is None:
            return
        t0 = L.now_ns()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                L.note("compose watch (pid %d) did not exit 60 s after SIGINT; sent SIGKILL" % self.proc.pid)
                self.proc.kill()
                self.proc.wait(10)
        self.stop_ms = L.ms_since(t0)
        self.exit_code = self.proc.returncode
        self._log.close()
        self.left_running = bool(docker("ps", "-q", "--filter", "name=^%s$" % self.container()).strip())
        down = subprocess.run(self.cmd("down", "--rmi", "local", "--volumes", "--timeout", "5"), cwd=self.svc,
                              env=self.env, capture_output=True, text=True, timeout=120)
        if down.returncode != 0:
            L.note("compose down failed: %s" % (down.stderr or down.stdout).strip()[-500:])
        # Each rebuild re-tags <project>-web and leaves the image before it dangling; `down --rmi
        # local` removes the tagged one only.
        dangling = docker("images", "-q", "--filter", "dangling=true", "--filter",
                          "label=com.docker.compose.project=%s" % self.project).split()
        self.dangling = len(set(dangling))
        if dangling:
            docker("rmi", *sorted(set(dangling)), check=False)


def get_why(port, path):
    """One GET as local.http_get does it, but saying why it failed: (status, body, reason)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read(), "HTTP %d" % r.status
    except (OSError, http.client.HTTPException) as e:
        return None, b"", type(e).__name__
    finally:
        c.close()


def poll_tracking(port, path, want, deadline_s, check):
    """local.poll_until's tight GET loop, also counting the GETs that got no 200 (by why) and the
    longest time between two 200s: whether the old version kept serving while the new one was
    built and started. (perf_counter_ns of the match, failed GETs, ms, {why: count})."""
    want = want.encode()
    end = time.monotonic() + deadline_s
    n = failed = 0
    why = {}
    last_ok = L.now_ns()
    gap = 0
    while True:
        status, body, reason = get_why(port, path)
        t = L.now_ns()
        n += 1
        if status == 200:
            gap = max(gap, t - last_ok)
            last_ok = t
            if want in body:
                return t, failed, gap / 1e6, why
        else:
            failed += 1
            why[reason] = why.get(reason, 0) + 1
        if n % 200 == 0:
            check()
        if time.monotonic() > end:
            raise L.BenchError("GET %s on port %d never returned %r within %.0f s" % (path, port, want, deadline_s))


def bench(args):
    if not os.environ.get("DOCKER_HOST"):
        raise L.BenchError('run `eval "$(tests/engine/env)"` first (DOCKER_HOST)')
    docker("image", "inspect", BASE_IMAGE)
    os.environ["PYTHON_IMAGE"] = BASE_IMAGE
    # The test engine has no default bridge: RUN steps use the host's network (docs/container.md).
    os.environ.setdefault("DEVSPACES_BUILD_NETWORK", "host")
    work = tempfile.mkdtemp(prefix="devspaces-cbench-")
    run_id = uuid.uuid4().hex[:8]
    r = {"load_start": L.loadavg(), "run_id": run_id}
    tools = [Devspaces(args.bin, work, run_id)]
    if args.compose:
        tools.append(Compose(args.compose, work, run_id))
    words = [t.space if t.name == "devspaces" else t.project for t in tools]
    before = engine_objects(words)
    res = {t.name: {} for t in tools}
    r["tools"] = res
    try:
        # 1. first up, one tool after the other (each alone on the machine)
        for t in tools:
            t0 = L.now_ns()
            t.start()
            if t.name == "devspaces":
                L.poll_until(t.port, "/version", "1.0.0", sess=t.sess)
            t1 = L.now_ns()
            res[t.name]["first_up_s"] = (t1 - t0) / 1e9
            res[t.name]["cache_hits"] = t.cache_hits()
            L.log("%s: first up %.1f s" % (t.name, (t1 - t0) / 1e9))
        for t in tools:
            t.ready()
            res[t.name]["roundtrip"] = L.measure_roundtrip(t.port, "/version", 100)

        # 2. static-sync, rounds alternating between the tools
        pages = {}
        for t in tools:
            with open(os.path.join(t.svc, "static", "style.css")) as f:
                pages[t.name] = f.read()
            res[t.name]["static"] = []
        for i in range(args.warmup + args.n):
            for t in tools:
                css = os.path.join(t.svc, "static", "style.css")
                marker = "cbench-static-%d-%s" % (i, uuid.uuid4().hex[:8])
                t0 = L.now_ns()
                L.write_file(css, pages[t.name] + "/* %s */\n" % marker)
                t1 = t.poll("/static/style.css", marker)
                if i >= args.warmup:
                    res[t.name]["static"].append((t1 - t0) / 1e6)
                t.after_static()
        L.log("static done")

        # 3. process-restart, each tool's round followed by the app's own in its container
        for t in tools:
            res[t.name].update(restart=[], base=[], stop=[], pyc=[], marks_build=[], marks_start=[], to_build=[],
                               listening_to_served=[])
        for i in range(args.warmup + args.restarts):
            for t in tools:
                ver = os.path.join(t.svc, "version.py")
                # Consecutive versions differ in length: Python checks a .pyc against the source's
                # mtime in whole seconds and its size, so a same-size edit within the second would
                # start the app with the old version (compose runs no py_compile before a start).
                version = "cbench-%d-%s%s" % (i, uuid.uuid4().hex[:8], "x" * (i % 3))
                total, marks = t.restart_round(ver, version)
                b = baseline_in(t.container())
                if i < args.warmup:
                    continue
                x = res[t.name]
                x["restart"].append(total)
                x["base"].append(b["total"])
                x["stop"].append(b["stop"])
                x["pyc"].append(b["pyc"])
                if "build" in marks and "listening" in marks:
                    x["marks_build"].append((marks.get("started", marks["build"]) - marks["build"]) * 1000)
                    x["marks_start"].append((marks["listening"] - marks.get("started", marks["build"])) * 1000)
                    x["to_build"].append((marks["build"] - marks["save"]) * 1000)
                    x["listening_to_served"].append(total - (marks["listening"] - marks["save"]) * 1000)
                elif t.name == "devspaces":
                    L.note("devspaces restart %d: missing agent log marks %s" % (i, sorted(marks)))
        L.log("restart done")

        # 4. redeploy: requirements.txt and the Dockerfile's RUN line, alternately
        for t in tools:
            res[t.name].update(redeploy=[], redeploy_kind=[], redeploy_failed=[], redeploy_gap=[], redeploy_why={})
        for i in range(args.redeploys):
            for t in tools:
                marker = "cbench-redeploy-%d-%s" % (i, uuid.uuid4().hex[:8])
                if i % 2 == 0:
                    path, text, kind = os.path.join(t.svc, "requirements.txt"), "# %s\n" % marker, "requirements.txt"
                else:
                    path, text, kind = os.path.join(t.svc, "Dockerfile.develop"), DOCKERFILE % marker, "Dockerfile"
                t0 = L.now_ns()
                L.write_file(path, text)
                t1, failed, gap, why = poll_tracking(t.port, "/static/deps.txt", marker, 600, t.check_alive)
                t.after_redeploy()
                res[t.name]["redeploy"].append((t1 - t0) / 1e9)
                res[t.name]["redeploy_kind"].append(kind)
                res[t.name]["redeploy_failed"].append(failed)
                res[t.name]["redeploy_gap"].append(gap)
                for k, v in why.items():
                    res[t.name]["redeploy_why"][k] = res[t.name]["redeploy_why"].get(k, 0) + v
                L.log("%s: redeploy %d (%s) %.1f s, %d failed GETs, longest gap %.0f ms"
                      % (t.name, i, kind, (t1 - t0) / 1e9, failed, gap))
    finally:
        for t in tools:
            try:
                t.stop()
                res[t.name]["stop_ms"] = getattr(t, "stop_ms", None)
                res[t.name]["exit_code"] = getattr(t, "exit_code", None)
                res[t.name]["dangling"] = getattr(t, "dangling", None)
                res[t.name]["left_running"] = getattr(t, "left_running", None)
            except Exception as e:  # noqa: BLE001 - report, and stop the other tool too
                L.note("stopping %s: %s" % (t.name, e))
        time.sleep(1)
        after = engine_objects(words)
        for kind, b, a in zip(("containers", "images", "networks"), before, after):
            if a - b:
                L.note("left in the engine after both tools stopped (%s): %s" % (kind, ", ".join(sorted(a - b))))
        r["clean"] = all(not (a - b) for b, a in zip(before, after))
        if args.keep:
            L.log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    r["load_end"] = L.loadavg()
    return r


def own(x, with_pyc):
    return [b + (c if with_pyc else 0.0) for b, c in zip(x["base"], x["pyc"])]


def overhead(x, with_pyc):
    """Restart minus the app's own (p50 and p90 of the restarts minus the p50 of the own), as
    local.py reports it, and the per-round differences."""
    o = own(x, with_pyc)
    if not x["restart"] or not o:
        return None, None, []
    o50 = L.pct(o, 50)
    return L.pct(x["restart"], 50) - o50, L.pct(x["restart"], 90) - o50, [t - k for t, k in zip(x["restart"], o)]


def whys(x):
    return ", ".join("%s %d" % kv for kv in sorted(x["redeploy_why"].items())) or "none"


def report(r, args):
    ds = r["tools"]["devspaces"]
    co = r["tools"].get("compose watch")
    ov50, ov90, paired = overhead(ds, True)
    engine = docker("version", "--format", "{{.Server.Version}}", check=False).strip() or "?"
    lines = [
        "# Container backend benchmark",
        "",
        "Generated by `tests/bench/run-container.sh` on %s (%s, %d CPUs, load %s at the start, %s at the end) "
        "against the test engine of tests/engine/ (dockerd %s, overlay2, classic builder for devspaces, "
        "runc; `--bridge=none`, so RUN steps use the host network)."
        % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), platform.machine(), os.cpu_count() or 0,
           r["load_start"], r["load_end"], engine),
        "Method: docs/benchmarks.md (Container backend). Times are from the edit's write to the first "
        "HTTP response through `http://localhost:<port>` that shows it; %d warm-up rounds are not counted."
        % args.warmup,
        "",
        "| measurement | n | p50 | p90 | max | target |",
        "|---|---|---|---|---|---|",
        "| first `up` to page served (s; %d of the build's steps from the engine's cache) | 1 | %.1f | | | |"
        % (ds["cache_hits"], ds["first_up_s"]),
        K.row("static-sync edit -> served (ms)", ds["static"], "ms", TARGET_STATIC_P50_MS),
        K.row("process-restart edit -> served (ms)", ds["restart"], "ms"),
        K.row("  the app's own kill-and-start in the container, same rounds (ms)", ds["base"], "ms"),
        K.row("  the app's own build command (py_compile) in the container (ms)", ds["pyc"], "ms"),
        K.row("  save -> `$ py_compile` in the container (watch, sync, stop the old app; ms)", ds["to_build"], "ms"),
        K.row("  agent's clock: py_compile (ms)", ds["marks_build"], "ms"),
        K.row("  agent's clock: python start to listening (ms)", ds["marks_start"], "ms"),
        K.row("  `listening on` -> new version served (forward, first poll that lands; ms)",
              ds["listening_to_served"], "ms"),
    ]
    if ov50 is not None:
        verdict = "target <= %.1f ms: %s" % (TARGET_RESTART_OVERHEAD_P50_MS,
                                            "met" if ov50 <= TARGET_RESTART_OVERHEAD_P50_MS else "NOT met")
        lines.append("| **restart minus the app's own kill-and-start + py_compile (ms)** | %d | %.1f | %.1f | | %s |"
                     % (len(ds["restart"]), ov50, ov90, verdict))
        lines.append(K.row("  the same, per-round differences (ms)", paired, "ms"))
    lines.append(K.row("redeploy edit -> new container serving (s)", ds["redeploy"], "s"))
    lines.append(K.row("  GETs without a 200 during a redeploy", ds["redeploy_failed"], "", fmt="%d"))
    lines.append(K.row("  longest time between two 200s during a redeploy (ms)", ds["redeploy_gap"], "ms"))
    lines.append(K.row("one GET through the forward (ms, the resolution)", ds["roundtrip"], "ms", fmt="%.2f"))
    lines.append("")
    lines.append("GETs without a 200 during the redeploys, by why: devspaces %s%s."
                 % (whys(ds), "; compose watch %s" % whys(co) if co else ""))
    lines.append("")
    lines.append("Redeploy edits, in order: %s. `up` exited %s ms after SIGINT with code %s; the engine was left %s."
                 % (", ".join(ds["redeploy_kind"]) or "-",
                    "%.0f" % ds["stop_ms"] if ds.get("stop_ms") is not None else "?", ds.get("exit_code"),
                    "as it was found (no container, image or network of the run)" if r["clean"]
                    else "with objects of the run (see the notes)"))
    lines.append("")
    if co:
        cv50, cv90, cpaired = overhead(co, False)
        lines += [
            "## Beside `docker compose watch`",
            "",
            "Docker Compose %s (`tests/bench/build-compose.sh`, BuildKit in the engine) runs the same app "
            "(its own copy) under `compose watch` with `develop.watch` rules: `sync` for static/, `sync+restart` "
            "for version.py and app.py, `rebuild` for requirements.txt and Dockerfile.develop; it publishes "
            "the app's port on 127.0.0.1 directly. Both tools ran at the same time, their rounds alternating. "
            "Compose runs no build command, so its restart is compared with the app's own kill-and-start "
            "alone, devspaces' with kill-and-start + py_compile. Compose batches file events for 500 ms "
            "(`watch.QuietPeriod`) before it acts. Its copy's .dockerignore does not list `Dockerfile*` (the "
            "example's does): compose watch skips what .dockerignore lists, so its rule for Dockerfile.develop "
            "never fired. Its %s rebuilds left %s dangling image(s) that `compose down --rmi local` kept (removed "
            "by the script)." % (args.compose_version, len(co["redeploy"]), co.get("dangling", "?")),
            "",
            "| measurement | devspaces p50 / p90 | compose watch p50 / p90 | compose ÷ devspaces (p50) |",
            "|---|---|---|---|",
        ]

        def cmp_row(name, a, b, f="%.1f"):
            if not a or not b:
                return "| %s | %s | %s | - |" % (name, "-", "-")
            a50, b50 = L.pct(a, 50), L.pct(b, 50)
            return "| %s | %s / %s | %s / %s | %s |" % (
                name, f % a50, f % L.pct(a, 90), f % b50, f % L.pct(b, 90), "%.1f×" % (b50 / a50) if a50 else "-")

        lines += [
            "| first `up` to page served (s; steps from cache: devspaces %d, compose %d) | %.1f | %.1f | %.1f× |"
            % (ds["cache_hits"], co["cache_hits"], ds["first_up_s"], co["first_up_s"],
               co["first_up_s"] / ds["first_up_s"]),
            cmp_row("static-sync edit -> served (ms)", ds["static"], co["static"]),
            cmp_row("process-restart edit -> served (ms)", ds["restart"], co["restart"]),
            cmp_row("  the app's own kill-and-start in its container (ms)", ds["base"], co["base"]),
        ]
        if ov50 is not None and cv50 is not None:
            lines.append("| restart minus the app's own (ms; devspaces: kill-and-start + py_compile, compose: "
                         "kill-and-start) | %.1f / %.1f | %.1f / %.1f | %s |"
                         % (ov50, ov90, cv50, cv90, "%.1f×" % (cv50 / ov50) if ov50 > 0 else "-"))
        lines += [
            cmp_row("redeploy edit -> new container serving (s)", ds["redeploy"], co["redeploy"]),
            cmp_row("  longest time between two 200s during a redeploy (ms)", ds["redeploy_gap"], co["redeploy_gap"]),
            cmp_row("  GETs without a 200 during a redeploy", ds["redeploy_failed"], co["redeploy_failed"], "%d"),
            cmp_row("one GET to the app's localhost port (ms)", ds["roundtrip"], co["roundtrip"], "%.2f"),
            "",
            "compose watch exited %s ms after SIGINT with code %s; its container was %s then (the script "
            "runs `compose down --rmi local`)." % ("%.0f" % co["stop_ms"] if co.get("stop_ms") is not None else "?",
                                                  co.get("exit_code"),
                                                  "still running" if co.get("left_running") else "stopped"),
            "",
        ]
    elif args.no_compose_reason:
        lines += ["No comparison with `docker compose watch`: %s" % args.no_compose_reason, ""]
    K.publish(lines, args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the release devspacesd")
    ap.add_argument("--out")
    ap.add_argument("--compose", help="a docker-compose binary (tests/bench/build-compose.sh) to compare with")
    ap.add_argument("--compose-version", default="?")
    ap.add_argument("--no-compose-reason", help="why there is no comparison (printed in the results)")
    ap.add_argument("-n", type=int, default=20, help="static edits (default 20)")
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--redeploys", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (sessions' output, compose's log)")
    args = ap.parse_args()
    try:
        r = bench(args)
    except L.BenchError as e:
        print("benchmark failed: %s" % e, file=sys.stderr)
        return 1
    report(r, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
