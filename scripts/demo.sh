#!/usr/bin/env bash
# demo.sh - the README's first command: build, start `canon serve` on its embedded
# defaults, and walk through what the registry does for a canonical schema.
#
# Then three domains join the canon for a person (translators/examples/): HR with a
# declarative mapping (`canon translate`), CRM with a Python app on the generated Python
# binding, Support with a Java app on the generated Java binding; the demo shows, from the
# topics, which domain set which field when, the conflicting writes, and why the stale
# (late) updates were ignored.
#
# It finishes by itself (servers and broker are stopped at the end). Set KEEP=1 to leave
# canon serve (and the broker) running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh >/dev/null
# CANON_BIN names an already built canon binary (tests, other build directories);
# by default the demo builds the release binary build/canon.
if [ -z "${CANON_BIN:-}" ]; then
    scripts/build.sh release >/dev/null
fi
canon_bin=${CANON_BIN:-$root/build/canon}
canon() { "$canon_bin" "$@"; }

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    if [ -s "$work/kafka.env" ]; then
        tests/kafka/kafka.sh stop "$(sed -n 's/^KAFKA_DIR=//p' "$work/kafka.env")" >/dev/null 2>&1
    fi
    wait 2>/dev/null
    rm -rf "$work"
}
trap 'cleanup || true' EXIT

# The three domains' part (after the registry and the first merge) runs on a real Kafka
# broker: the Support domain is a Java app, and Java's kafka-clients (3.9) cannot talk to
# librdkafka 2.0.2's in-process mock cluster (it offers Metadata v0-2 only, and the Java
# client gives up with "no node is available"). The broker starts now, in the background,
# so that its 5 to 15 seconds overlap the first part.
kafka=0
if command -v java >/dev/null 2>&1 && tests/kafka/kafka.sh fetch >/dev/null 2>"$work/kafka.err"; then
    kafka=1
    (CANON_KAFKA_QUICK=1 CANON_KAFKA_WATCH_PID=$$ tests/kafka/kafka.sh start \
        >"$work/kafka.env.tmp" 2>>"$work/kafka.err" && mv "$work/kafka.env.tmp" "$work/kafka.env") &
    kafka_job=$!
fi
"$canon_bin" serve --listen 127.0.0.1:0 --db "$work/canon.db" --quiet >"$work/out" 2>"$work/err" &
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
s["fields"].append({"name": "nickname", "type": ["null", "string"]})  # no default
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
"$canon_bin" serve --listen 127.0.0.1:0 --db "$work/canon.db" --quiet >"$work/out" 2>"$work/err" &
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
    say "The owners agree Support may write given_name: a new canonical version, then canon replay"
    python3 - "$work/person.json" >"$work/person3.json" <<'PY'
import json, sys
s = json.loads(json.load(open(sys.argv[1]))["schema"])
for f in s["fields"]:
    if f["name"] == "given_name":
        f["canon.writers"].append("support")
print(json.dumps({"schema": json.dumps(s)}))
PY
    echo '(given_name: "canon.writers": ["hr", "crm", "support"])'
    show POST /subjects/canon.person.entity/versions "$work/person3.json"
    for _ in $(seq 150); do # the aggregator asks the registry for new versions every 5 s
        grep -q "entity 'person': canonical schema id" "$work/err" 2>/dev/null && break
        sleep 0.1
    done
    printf '$ canon replay person\n'
    canon replay person --bootstrap-servers "$boot" 2>&1
    for _ in $(seq 100); do # until the aggregator has merged the replayed update
        canon state person "$key" --bootstrap-servers "$boot" --registry "$url" 2>/dev/null |
            grep -q '"version": 3' && break
        sleep 0.2
    done
    say "The replayed update merged like a late one: given_name from Support, the rest as before"
    printf '$ canon state person %s\n' "$key"
    canon state person "$key" --bootstrap-servers "$boot" --registry "$url" |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(json.dumps({k: s[k] for k in ("version","state","changed")}, indent=2)); print("given_name set by", json.dumps(s["provenance"]["given_name"]))'
else
    echo "demo: canon serve did not restart" >&2; cat "$work/err" >&2; exit 1
fi

# ---- Part 2: three domains, one canon ------------------------------------------------
ex=translators/examples
say "Three domains join the canon for 'person' (translators/examples/)"
cat <<'EOF'
  hr/       declarative mapping (hr/mapping.json), run by `canon translate`: no code
  crm/      a Python app on the binding `canon gen --lang python` writes from the registry
  support/  a Java app on the binding `canon gen --lang java` writes from the registry
Every domain derives the same universal id for a person from the e-mail address:
person_id = uuid5(uuid5(NAMESPACE_URL, "canongate:person"), lower(trim(email))).
EOF
if [ "$kafka" = 1 ]; then
    wait "$kafka_job" 2>/dev/null || true
fi
if [ "$kafka" != 1 ] || [ ! -s "$work/kafka.env" ]; then
    echo "demo: no Kafka broker for the three domains (needs Java: scripts/deps.sh installs it)" >&2
    cat "$work/kafka.err" >&2 || true
    exit 1
fi
boot=$(sed -n 's/^KAFKA_BOOTSTRAP=//p' "$work/kafka.env")
echo "The Support app is Java, and Java's Kafka client cannot talk to the in-process mock"
echo "cluster, so this part runs on a real single-node Kafka broker (tests/kafka/kafka.sh)"
echo "at $boot; canon serve restarts on it with the same registry database."
kill $pid; wait $pid 2>/dev/null || true
"$canon_bin" serve --listen 127.0.0.1:0 --db "$work/canon.db" --quiet \
    --bootstrap-servers "$boot" >"$work/out" 2>"$work/err" &
pid=$!
url=
for _ in $(seq 300); do
    url=$(grep -so 'http://[0-9.:]*' "$work/out" | head -1 || true)
    [ -n "$url" ] && grep -q "serving entity 'person'" "$work/out" "$work/err" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.1
done
grep -q "serving entity 'person'" "$work/out" "$work/err" ||
    { echo "demo: the aggregator did not start on $boot" >&2; cat "$work/err" >&2; exit 1; }
K="--bootstrap-servers $boot --registry $url"
sent=0
count() { sent=$((sent + $(grep -c . "$1"))); }

say "HR: its system publishes employee events (HR's own fields: employee_no, status codes, dates as 10.12.1815)"
head -n 2 $ex/hr/events.jsonl | sed 's/^/  /'
printf '  ... (%s events: a late status change, a purge)\n' "$(grep -c . $ex/hr/events.jsonl)"
.venv/bin/python $ex/publish_jsonl.py --bootstrap-servers "$boot" --topic hr.employees \
    --key employee_no $ex/hr/events.jsonl | sed 's/^/  /'
printf 'The mapping, %s (docs/translators.md):\n' "$ex/hr/mapping.json"
sed 's/^/  /' $ex/hr/mapping.json
printf '$ canon translate --mapping %s --once\n' "$ex/hr/mapping.json"
# shellcheck disable=SC2086 # $K holds two options on purpose
canon translate --mapping $ex/hr/mapping.json $K --once 2>&1 | sed 's/^/  /'
count $ex/hr/events.jsonl

say "CRM: a Python app on the generated Python binding (crm/crm_translator.py)"
printf '$ canon gen --lang python --registry %s --subject canon.person.entity --out %s\n' "$url" "build/examples/crm-binding"
exdir=$root/build/examples
rm -rf "$exdir/crm-binding"
mkdir -p "$exdir"
canon gen --lang python --registry "$url" --subject canon.person.entity --out "$exdir/crm-binding" 2>/dev/null
venv=$exdir/crm-venv
printf '$ pip install build/examples/crm-binding   (into %s)\n' "build/examples/crm-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import fastavro, wheel; from confluent_kafka.schema_registry import SchemaRegistryClient' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check wheel "setuptools>=64"
    "$venv/bin/pip" install -q --disable-pip-version-check "$exdir/crm-binding"
else # the binding's dependencies are there: reinstall only the binding (offline, fast)
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation \
        --force-reinstall "$exdir/crm-binding"
fi
printf '$ python crm/crm_translator.py\n'
# shellcheck disable=SC2086
"$venv/bin/python" $ex/crm/crm_translator.py $K --events $ex/crm/events.jsonl | sed 's/^/  /'
count $ex/crm/events.jsonl

say "Support: a Java app on the generated Java binding (support/SupportTranslator.java)"
printf '$ support/run.sh   (canon gen --lang java from the registry, javac, java)\n'
# shellcheck disable=SC2086
CANON_BIN="$canon_bin" OUT="$exdir/support" $ex/support/run.sh $K \
    --events "$root/$ex/support/tickets.jsonl" | sed 's/^/  /'
count $ex/support/tickets.jsonl

metric() { curl -s "$url/metrics" | sed -n "s/^$1{entity=\"person\"} //p"; }
for _ in $(seq 300); do # until the aggregator consumed every update, and committed its output
    [ "$(metric canon_updates_in_total)" -ge "$sent" ] 2>/dev/null && break
    sleep 0.1
done
out_total=$(metric canon_records_out_total)
# shellcheck disable=SC2086
for _ in $(seq 100); do
    canon tail canon.person $K --from-beginning --plain --timeout-ms 10000 >"$work/canon.jsonl"
    [ "$(grep -c . "$work/canon.jsonl")" -ge "${out_total:-0}" ] && break
    sleep 0.2
done
# shellcheck disable=SC2086
canon tail canon.person.updates $K --from-beginning --plain --timeout-ms 10000 >"$work/updates.jsonl"
ada=$(echo ada.lovelace@example.org | .venv/bin/python $ex/crm/crm_translator.py --print-ids)
grace=$(echo grace.hopper@example.org | .venv/bin/python $ex/crm/crm_translator.py --print-ids)

say "The aggregator merged $sent updates from three domains (GET /metrics)"
curl -s "$url/metrics" | grep -E '^canon_(updates_in|updates_applied|updates_noop|stale_fields|records_out|dlq_out)_total.entity="person"' | sed 's/^/  /'

say "Ada Lovelace ($ada): the story, from the topics (canon tail canon.person.updates / canon.person)"
.venv/bin/python $ex/explain.py --updates "$work/updates.jsonl" --canon "$work/canon.jsonl" --key "$ada"

say "Why the stale updates were ignored"
cat <<'EOF'
Each field keeps the version (event_time, source, seq) of the write that set it. An update
sets a field only if its version is newer: the late HR status change (event of 2 March,
arriving after the 10 March one) and the late Support ticket (7 March, after the 9 March
one) are older than what the canon holds, so their fields were counted as stale
(canon_stale_fields_total) and nothing was published for them. Arrival order does not
matter: any order of the same updates ends in the same state.
EOF

say "Grace Hopper ($grace): HR purged her record, a DELETE (canon state person KEY)"
echo "CRM's update about her (event of 2 March) arrived after HR's purge (12 March): it is"
echo "older than the delete, so it did not bring her back."
.venv/bin/python $ex/explain.py --updates "$work/updates.jsonl" --canon "$work/canon.jsonl" --key "$grace" |
    sed -n '/arrival order/,/^$/p'
printf '$ canon state person %s\n' "$grace"
# shellcheck disable=SC2086
canon state person "$grace" $K |
    .venv/bin/python -c 'import json,sys; s=json.load(sys.stdin); print(json.dumps({k: s[k] for k in ("version","deleted","state","op","last_delete")}, indent=2))'

say "Try next"
cat <<EOF
  KEEP=1 scripts/demo.sh                  leave the server running after the demo
  translators/examples/                   the three domains: mapping, Python app, Java app
  docs/tutorial.md                        add a fourth domain in ten minutes
  docs/translators.md                     the mapping file (canon translate)
  build/canon serve --help                all options of the main job
  build/canon check schemas/person.avsc   canonical form and fingerprint of a schema
  docs/api.md                             the registry's REST API
  docs/tools.md                           canon produce, canon tail, canon state
  docs/aggregator.md                      how updates are merged into the canon
EOF
if [ "${KEEP:-0}" = 1 ]; then
    echo "canon serve is running at $url, on Kafka at $boot (Ctrl-C to stop both)"
    wait $pid
fi
