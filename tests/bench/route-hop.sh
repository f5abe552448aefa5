#!/usr/bin/env bash
# What the routing proxy adds per hop on the cluster (issue 16): tests/bench/route_hop.py run in
# the pod of SERVICE (namespace NAMESPACE) against its own loopback, then, with CALLER, in CALLER's
# pod against SERVICE's pod address (one hop between pods, as service calls make them). Each line
# is route_hop.py's JSON. Needs kubectl on the cluster (eval "$(tests/cluster/env)") and python3 in
# the pods' image. Usage: tests/bench/route-hop.sh NAMESPACE SERVICE [CALLER] [N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ns="$1" service="$2" caller="${3:-}" n="${4:-200}"

# The newest live pod of a release (the prep charts label app.kubernetes.io/name).
pod_of() {
  kubectl get pods -n "$ns" -l "app.kubernetes.io/name=$1" --field-selector=status.phase=Running \
    -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | tail -n 1
}
pod="$(pod_of "$service")"
[ -n "$pod" ] || { echo "no running pod of $service in $ns" >&2; exit 1; }
# The agent's first --route LISTEN:APP:SERVICE:PORT in the container's command.
route="$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.spec.containers[0].command}' |
  python3 -c 'import json,sys; c=json.load(sys.stdin); print(c[c.index("--route")+1])')"
listen="${route%%:*}" rest="${route#*:}" app="${rest%%:*}"

kubectl exec -i -n "$ns" "$pod" -- python3 - 127.0.0.1 "$app" "$listen" "$n" < "$here/route_hop.py"
if [ -n "$caller" ]; then
  from="$(pod_of "$caller")"
  ip="$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.status.podIP}')"
  kubectl exec -i -n "$ns" "$from" -- python3 - "$ip" "$app" "$listen" "$n" < "$here/route_hop.py"
fi
