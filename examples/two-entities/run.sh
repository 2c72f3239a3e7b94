#!/usr/bin/env bash
# Two entities joined by mTLS: makes both CAs and certificates with the isthmus CLI, starts
# bank's provider and ingress gateway and acme's egress gateway, and makes calls that cross.
# Both gateways write an audit trail; bank's is exported through Redis (a redis-server on
# 127.0.0.1:16379 when installed) and both are verified with the entities' certificates.
# `--keep` leaves everything running (Ctrl-C stops it).
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

redis_pid=""
if command -v redis-server >/dev/null; then
  echo "== Redis for bank's audit queue (127.0.0.1:16379)"
  redis-server --port 16379 --bind 127.0.0.1 --dir "$here/work" --save '' --appendonly yes > work/redis.log 2>&1 & redis_pid=$!; pids+=($redis_pid)
else
  echo "== redis-server not installed: bank's records stay in its local spool (the export step is skipped)"
fi

echo "== bank: provider and ingress gateway; acme: egress gateway"
"$tsx" provider.ts & pids+=($!)
"${isthmus[@]}" start -c b-ingress.yaml > work/bank-ingress.log 2>&1 & bank_pid=$!; pids+=($bank_pid)
"${isthmus[@]}" start -c a-egress.yaml > work/acme-egress.log 2>&1 & acme_pid=$!; pids+=($acme_pid)

ready() { node -e "fetch('http://127.0.0.1:$1/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; }
for port in 19902 19901; do
  for _ in $(seq 1 100); do ready "$port" && break; sleep 0.1; done
  ready "$port" || { echo "gateway with admin port $port did not start; see work/*.log" >&2; exit 1; }
done

echo "== calls: acme app -> acme egress (h2c :18080) -> mTLS -> bank ingress (:18443) -> provider"
for name in acme-app acme-app-2 acme-app-3; do "$tsx" call.ts 127.0.0.1:18080 "$name"; done

if [[ "${1:-}" == "--keep" ]]; then
  echo "running; try: $tsx $here/call.ts 127.0.0.1:18080   (Ctrl-C stops)"
  echo "audit: ${isthmus[*]} audit verify --key work/bank-ingress/tls.crt work/bank-audit"
  wait
fi

echo "== stop the gateways (SIGTERM drains; the audit trails get their last checkpoint)"
for p in "$acme_pid" "$bank_pid"; do kill "$p"; wait "$p" || true; done

if [[ -n "$redis_pid" ]]; then
  echo "== export bank's audit queue to work/bank-export/ (isthmus audit export, until the queue is idle)"
  "${isthmus[@]}" audit export -c b-ingress.yaml --until-idle 1000 2> work/bank-export.log
  echo "exported: $(grep -c '"k":"rec"' work/bank-export/audit.ndjson) records"
fi

echo "== verify each trail with its entity's certificate (hash chain, segment links, signed checkpoints)"
"${isthmus[@]}" audit verify --key work/bank-ingress/tls.crt work/bank-audit
"${isthmus[@]}" audit verify --key work/acme-egress/tls.crt work/acme-audit
if [[ -n "$redis_pid" ]]; then
  "${isthmus[@]}" audit verify --key work/bank-ingress/tls.crt work/bank-export/audit.ndjson work/bank-export/checkpoints.ndjson
fi
