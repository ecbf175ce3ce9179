#!/usr/bin/env bash
# demo.sh - the README's first command: build, start `canon serve` on its embedded
# defaults, and walk through what the registry does for a canonical schema.
#
# It finishes by itself (the server is stopped at the end). Set KEEP=1 to leave the
# server running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh >/dev/null
scripts/build.sh release >/dev/null

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
"$root/build/canon" serve --listen 127.0.0.1:0 --db "$work/canon.db" --quiet >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
    url=$(grep -so 'http://[0-9.:]*' "$work/out" | head -1 || true)
    [ -n "$url" ] && break
    kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "demo: canon serve did not start" >&2; cat "$work/err" >&2; exit 1; }

CT='Content-Type: application/vnd.schemaregistry.v1+json'
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { # METHOD PATH [BODY-FILE]: print the request and the pretty answer
    local m=$1 p=$2 body=${3:-}
    printf '$ %s %s\n' "$m" "$p"
    if [ -n "$body" ]; then
        curl -s -X "$m" -H "$CT" --data-binary @"$body" "$url$p"
    else
        curl -s -X "$m" "$url$p"
    fi | python3 -c 'import json,sys; t=sys.stdin.read(); print(json.dumps(json.loads(t), indent=2) if t.strip() else "")'
}
wrap() { # wrap an .avsc file as a registration body
    python3 -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' "$1"
}

head -n 20 "$work/out"
say "Register the canonical schemas of schemas/ (subject canon.<entity>.entity)"
for f in schemas/*.avsc; do
    e=$(basename "$f" .avsc)
    wrap "$f" >"$work/$e.json"
    show POST "/subjects/canon.$e.entity/versions" "$work/$e.json"
done

say "The registry derived the update schema and the canon topic's envelope (docs/wire.md)"
show GET /subjects
printf '$ GET /subjects/canon.person.updates-value/versions/latest/schema  (fields only)\n'
curl -s "$url/subjects/canon.person.updates-value/versions/latest/schema" |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["name"], [f["name"] for f in s["fields"]])'

say "What the registry knows about the 'person' entity: key, writers per field, versions"
show GET /canon/entities/person

say "An entity's subjects default to FULL_TRANSITIVE"
show GET "/config/canon.person.entity?defaultToGlobal=true"

say "Same schema with other whitespace and key order: same id, no new version"
python3 - "$work/person.json" >"$work/person2.json" <<'PY'
import json, sys
s = json.loads(json.load(open(sys.argv[1]))["schema"])
print(json.dumps({"schema": json.dumps(s, sort_keys=True, indent=7)}))
PY
show POST /subjects/canon.person.entity/versions "$work/person2.json"

say "An incompatible change is refused, naming the field and the rule"
python3 - "$work/person.json" >"$work/bad.json" <<'PY'
import json, sys
s = json.loads(json.load(open(sys.argv[1]))["schema"])
s["fields"].append({"name": "nickname", "type": "string"})  # required, no default
print(json.dumps({"schema": json.dumps(s)}))
PY
show POST "/compatibility/subjects/canon.person.entity/versions/latest?verbose=true" "$work/bad.json"
printf '$ POST /subjects/canon.person.entity/versions  (message shortened)\n'
curl -s -X POST -H "$CT" --data-binary @"$work/bad.json" "$url/subjects/canon.person.entity/versions" |
    python3 -c 'import json,sys; e=json.load(sys.stdin); m=e["message"]; print(json.dumps({"error_code": e["error_code"], "message": m[:m.find("writerFragment")] + "..."}, indent=2))'

say "A canonical schema without a universal identifier (canon.key) is refused"
echo '{"schema": "{\"type\":\"record\",\"name\":\"Thing\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"}' >"$work/nokey.json"
show POST /subjects/canon.thing.entity/versions "$work/nokey.json"

say "The derived subjects are written by the registry only"
show POST /subjects/canon.person.updates-value/versions "$work/nokey.json"

say "Any Confluent client works unchanged, e.g. the schema by id"
show GET /schemas/ids/1

# The aggregator inside canon serve consumes canon.<entity>.updates on the in-process
# cluster and writes the merged full state to canon.<entity>. librdkafka 2.0.2's mock
# cluster cannot change a running consumer's subscription (docs/aggregator.md), so the
# server is restarted on the same database now that both entities exist: the aggregator
# then starts with both. (A real cluster, --bootstrap-servers, picks new entities up live.)
say "Restart canon serve: the aggregator starts on the registered entities"
kill $pid; wait $pid 2>/dev/null || true
"$root/build/canon" serve --listen 127.0.0.1:0 --db "$work/canon.db" --quiet >"$work/out" 2>"$work/err" &
pid=$!
url=
for _ in $(seq 100); do
    url=$(grep -so 'http://[0-9.:]*' "$work/out" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
done
boot=$(grep -so 'cluster (librdkafka mock) at [0-9.]*:[0-9]*' "$work/out" | head -1 | sed 's/.* at //' || true)
if [ -n "$url" ] && [ -n "$boot" ]; then
    head -n 20 "$work/out"
    canon() { "$root/build/canon" "$@"; }
    key=4f1c6a1e-0000-4000-8000-000000000001
    for _ in $(seq 150); do
        grep -q "serving entity 'person'" "$work/out" "$work/err" 2>/dev/null && break
        sleep 0.1
    done
    say "Two domains send partial updates for one person (canon produce)"
    upd() { printf '$ canon produce person --json '"'"'%s'"'"'\n' "$1"
            canon produce person --bootstrap-servers "$boot" --registry "$url" --json "$1" >/dev/null; }
    upd '{"person_id":"'$key'","source":"hr","event_time":"2026-03-01T09:00:00Z","values":{"given_name":"Ada","family_name":"Lovelace","email":"ada@hr.example"}}'
    upd '{"person_id":"'$key'","source":"crm","event_time":"2026-02-01T09:00:00Z","values":{"email":"old@crm.example","phone":"+44 20 7946 0000"}}'
    say "A domain writing a field it does not own is refused to the dead-letter topic"
    upd '{"person_id":"'$key'","source":"support","event_time":"2026-03-02T09:00:00Z","values":{"given_name":"Eve"}}'
    for _ in $(seq 100); do # until the aggregator has merged both updates
        canon state person "$key" --bootstrap-servers "$boot" --registry "$url" 2>/dev/null |
            grep -q '"version": 2' && break
        sleep 0.2
    done
    say "The canonical state: CRM's email is older than HR's, so it was ignored; phone came from CRM"
    printf '$ canon state person %s\n' "$key"
    canon state person "$key" --bootstrap-servers "$boot" --registry "$url" |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(json.dumps({k: s[k] for k in ("version","state","provenance","changed")}, indent=2))'
    say "The rejected update, intact, with the reason (canon tail canon.person.dlq)"
    canon tail canon.person.dlq --bootstrap-servers "$boot" --registry "$url" --from-beginning --timeout-ms 10000 |
        python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); print(json.dumps({"key": r.get("key"), "headers": r.get("headers")}, indent=2))'
else
    echo "demo: canon serve did not restart" >&2; cat "$work/err" >&2; exit 1
fi

say "Try next"
cat <<EOF
  KEEP=1 scripts/demo.sh                  leave the server running after the demo
  build/canon serve --help                all options of the main job
  build/canon check schemas/person.avsc   canonical form and fingerprint of a schema
  docs/api.md                             the registry's REST API
  docs/tools.md                           canon produce, canon tail, canon state
  docs/aggregator.md                      how updates are merged into the canon
EOF
if [ "${KEEP:-0}" = 1 ]; then
    echo "canon serve is running at $url (Ctrl-C to stop)"
    wait $pid
fi
