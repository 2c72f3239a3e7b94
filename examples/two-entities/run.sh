#!/usr/bin/env bash
# Two entities joined by mTLS: makes both CAs and certificates with the isthmus CLI, starts
# bank's provider and ingress gateway and acme's egress gateway, and makes one call that
# crosses. `--keep` leaves everything running (Ctrl-C stops it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tsx="$root/node_modules/.bin/tsx"
isthmus=("$tsx" "$root/bin/isthmus.ts")
cd "$here"

pids=()
# SIGTERM drains each gateway (in-flight calls finish), then it exits.
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

rm -rf work && mkdir work
echo "== certificates (isthmus certs)"
"${isthmus[@]}" certs init-ca --entity acme --out work/acme-ca
"${isthmus[@]}" certs init-ca --entity bank --out work/bank-ca
"${isthmus[@]}" certs issue --ca work/acme-ca --entity acme --app egress --client --out work/acme-egress --name tls
"${isthmus[@]}" certs issue --ca work/bank-ca --entity bank --app ingress --server --dns localhost --ip 127.0.0.1 --out work/bank-ingress --name tls

echo "== bank: provider and ingress gateway; acme: egress gateway"
"$tsx" provider.ts & pids+=($!)
"${isthmus[@]}" start -c b-ingress.yaml > work/bank-ingress.log 2>&1 & pids+=($!)
"${isthmus[@]}" start -c a-egress.yaml > work/acme-egress.log 2>&1 & pids+=($!)

ready() { node -e "fetch('http://127.0.0.1:$1/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; }
for port in 19902 19901; do
  for _ in $(seq 1 100); do ready "$port" && break; sleep 0.1; done
  ready "$port" || { echo "gateway with admin port $port did not start; see work/*.log" >&2; exit 1; }
done

echo "== one call: acme app -> acme egress (h2c :18080) -> mTLS -> bank ingress (:18443) -> provider"
"$tsx" call.ts 127.0.0.1:18080

if [[ "${1:-}" == "--keep" ]]; then
  echo "running; try: $tsx $here/call.ts 127.0.0.1:18080   (Ctrl-C stops)"
  wait
fi
