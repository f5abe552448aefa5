"""What the routing proxy adds per hop, measured in the cluster (run by route-hop.sh, inside a pod
with python3; standard library only).

    route_hop.py HOST APP_PORT ROUTE_PORT [N]

N GETs of / straight to the app (HOST:APP_PORT) and N through the routing proxy in front of it
(HOST:ROUTE_PORT), interleaved (one direct, one routed, ...) after 20 of each to warm up, each on
a new connection as the test apps close theirs. Prints one JSON object: p50 and p90 in ms of the
direct and the routed requests, and of the difference of each pair (routed minus the direct one
before it): the routing proxy's cost for one hop.
"""
import http.client, json, sys, time

host, app, route = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 200


def once(port):
    started = time.perf_counter()
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/")
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        raise SystemExit("GET %s:%d/ answered %d" % (host, port, r.status))
    return (time.perf_counter() - started) * 1000.0


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))], 3)


for _ in range(20):
    once(app)
    once(route)
direct, routed = [], []
for _ in range(n):
    direct.append(once(app))
    routed.append(once(route))
added = [r - d for d, r in zip(direct, routed)]
print(json.dumps({
    "host": host, "n": n,
    "direct": {"p50": pct(direct, 50), "p90": pct(direct, 90)},
    "routed": {"p50": pct(routed, 50), "p90": pct(routed, 90)},
    "added": {"p50": pct(added, 50), "p90": pct(added, 90)},
}))
