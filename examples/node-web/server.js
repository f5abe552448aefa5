// node-web: a Node.js standard-library HTTP server that devspaces syncs into and restarts.
"use strict";
const http = require("http");
const fs = require("fs");
const path = require("path");
const { VERSION } = require("./version");

const PUBLIC = path.join(__dirname, "public");
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

// Read a file under public/ from disk on every request (no caching: synced files show at once).
function readPublic(rel, done) {
  const file = path.resolve(PUBLIC, "." + path.sep + rel);
  if (!file.startsWith(PUBLIC + path.sep)) return done(null);
  fs.readFile(file, (err, data) => done(err ? null : data, file));
}

const server = http.createServer((req, res) => {
  const reply = (status, body, type) => {
    res.writeHead(status, {
      "Content-Type": type,
      "Content-Length": Buffer.byteLength(body),
      "Cache-Control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : body);
    console.log(`${req.socket.remoteAddress} "${req.method} ${req.url}" ${status}`);
  };
  const text = "text/plain; charset=utf-8";
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
  } catch {
    return reply(400, "bad request\n", text);
  }
  if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "method not allowed\n", text);
  if (pathname === "/version") return reply(200, VERSION + "\n", text);
  if (pathname === "/healthz") return reply(200, "ok\n", text);
  if (pathname === "/" || pathname === "/index.html") {
    return readPublic("index.html", (data) => {
      if (!data) return reply(500, "index.html missing\n", text);
      reply(200, data.toString("utf8").replaceAll("{{version}}", VERSION), TYPES[".html"]);
    });
  }
  readPublic(pathname, (data, file) => {
    if (!data) return reply(404, "not found\n", text);
    reply(200, data, TYPES[path.extname(file)] || "application/octet-stream");
  });
});

const port = Number(process.env.PORT || 3000);
server.listen(port, "0.0.0.0", () => {
  console.log(`node-web ${VERSION} listening on :${port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
