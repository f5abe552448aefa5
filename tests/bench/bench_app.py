# The benchmarks' app (common.BENCH_APP): "ok" on every path, except that GET /burst?n=N[&rate=R][&tag=T]
# and GET /paced?n=N&ms=M[&tag=T] print N timestamped lines ("<tag> <i> <time_ns>") on stdout and
# answer the seconds that took (protocol.py). local.py's generated services run it as server.py.
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUT = sys.stdout.buffer


class H(BaseHTTPRequestHandler):
    def do_GET(self):
        path, _, query = self.path.partition("?")
        q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        n = int(q.get("n", "0"))
        tag = q.get("tag", "x").encode()
        t0 = time.perf_counter()
        rate = int(q.get("rate", "0"))
        if path == "/burst" and rate:
            # rate lines per second, written in 1 ms slices.
            per = max(1, rate // 1000)
            i = 0
            while i < n:
                for _ in range(min(per, n - i)):
                    OUT.write(b"%s %d %d\n" % (tag, i, time.time_ns()))
                    i += 1
                OUT.flush()
                ahead = t0 + i / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        elif path == "/burst":
            for i in range(n):
                OUT.write(b"%s %d %d\n" % (tag, i, time.time_ns()))
            OUT.flush()
        elif path == "/paced":
            interval = float(q.get("ms", "1")) / 1000.0
            for i in range(n):
                OUT.write(b"%s %d %d\n" % (tag, i, time.time_ns()))
                OUT.flush()
                time.sleep(interval)
        body = b"%f\n" % (time.perf_counter() - t0) if path in ("/burst", "/paced") else b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("bench-app listening", flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), H).serve_forever()
