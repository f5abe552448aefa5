# python-web: a standard-library HTTP server that devspaces syncs into and restarts.
import mimetypes
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from version import VERSION

ROOT = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.realpath(os.path.join(ROOT, "static"))


def read_static(rel):
    """Read a file under static/ from disk (no caching: synced files show at once)."""
    path = os.path.realpath(os.path.join(STATIC, rel))
    if not path.startswith(STATIC + os.sep) or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    server_version = "python-web/" + VERSION

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            page = read_static("index.html")
            if page is None:
                return self.reply(500, b"index.html missing\n", "text/plain")
            body = page.decode("utf-8").replace("{{version}}", VERSION).encode("utf-8")
            return self.reply(200, body, "text/html; charset=utf-8")
        if path == "/version":
            return self.reply(200, (VERSION + "\n").encode(), "text/plain; charset=utf-8")
        if path == "/healthz":
            return self.reply(200, b"ok\n", "text/plain; charset=utf-8")
        if path.startswith("/static/"):
            data = read_static(path[len("/static/"):])
            if data is not None:
                ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
                return self.reply(200, data, ctype)
        return self.reply(404, b"not found\n", "text/plain; charset=utf-8")

    def do_HEAD(self):
        self.head_only = True
        self.do_GET()

    def reply(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not getattr(self, "head_only", False):
            self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print("python-web %s listening on :%d" % (VERSION, port), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
