#!/usr/bin/env bash
# deps.sh - install what building and testing Canongate needs, idempotently.
#
# Debian packages (as root, or with sudo), a Python virtualenv in .venv with the PyPI
# packages of tests/requirements.txt, and the npm packages of tests/clients/node.
# Each step is skipped when already satisfied, so running it again costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS="build-essential cmake pkg-config git python3 python3-venv
  libavro-dev librdkafka-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev
  libcmocka-dev libgnutls28-dev clang clang-format wrk nodejs npm
  default-jdk-headless maven curl zlib1g-dev libcurl4-openssl-dev"

missing=""
for p in $APT_PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# node and npm may come from elsewhere than Debian (the machine image): accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -vxE 'nodejs|npm' | tr '\n' ' ' || true)
fi
if command -v java >/dev/null && command -v mvn >/dev/null; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -vxE 'default-jdk-headless|maven' | tr '\n' ' ' || true)
fi
if [ -n "${missing// /}" ]; then
    echo "deps: installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# Python: a virtualenv keeps the project's packages apart from the machine's.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "deps: creating .venv"
    $PY -m venv .venv
fi
req=tests/requirements.txt
stamp=.venv/.req-stamp
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    echo "deps: installing Python packages from $req"
    .venv/bin/pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi

# Node: the existing JavaScript client, @kafkajs/confluent-schema-registry.
if [ -f tests/clients/node/package.json ]; then
    nstamp=tests/clients/node/node_modules/.pkg-stamp
    if [ ! -f "$nstamp" ] || ! cmp -s tests/clients/node/package.json "$nstamp"; then
        echo "deps: installing npm packages for tests/clients/node"
        (cd tests/clients/node && npm install --no-audit --no-fund --loglevel=error >/dev/null)
        cp tests/clients/node/package.json "$nstamp"
    fi
fi
# The demo's three example domains (translators/examples, scripts/demo.sh): a real Kafka
# broker for them (Java's kafka-clients cannot use the in-process mock cluster), and the
# venv of the CRM domain's Python app, into which the demo pip-installs the Python binding
# it generates from the registry; the binding's dependencies are installed here, once.
tests/kafka/kafka.sh fetch >/dev/null
crm=build/examples/crm-venv
if [ ! -x "$crm/bin/python" ] || ! "$crm/bin/python" -c 'import fastavro, wheel; from confluent_kafka.schema_registry import SchemaRegistryClient' 2>/dev/null; then
    echo "deps: creating $crm (the CRM example's Python environment)"
    rm -rf "$crm"
    mkdir -p build/examples
    $PY -m venv "$crm"
    "$crm/bin/pip" install -q --disable-pip-version-check wheel "setuptools>=64" \
        "fastavro>=1.9" "confluent-kafka[schemaregistry]>=2.3"
fi
echo "deps: ok"
