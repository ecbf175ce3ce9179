#!/usr/bin/env python3
"""bench.py - the registry benchmark driver (bench/registry/run.sh calls it).

Measures, in one run, the canon registry against a bare libmicrohttpd server that answers
the same bytes with no logic (bare_server.c, the ceiling on this machine):

  1. GET /schemas/ids/{id}          wrk -t1 -c64 --latency   goal: >= 0.9 of bare, p99 < 5 ms
  2. lookup POST /subjects/{s}      wrk -t1 -c64 (Lua body)  goal: >= 0.5 of bare
  3. registration of a new version under FULL_TRANSITIVE against 100 existing versions of
     a ~20-field record, sequential POSTs over one keep-alive connection  goal: < 20 ms
  4. VmRSS after registering 10,000 distinct schemas           goal: < 50 MB
  5. GET /canon/entities with 200 entities (what `canon aggregate` serving every entity
     asks every 5 s), remembered and after a change that makes every answer be derived
     again; GET /canon/entities/{e}                              no goal: figures only

It prints a table with the goal and PASS/MISS next to each figure and always exits 0 when
the measurements ran (a miss is a finding, not a failure). Standard library only.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

CT = "application/vnd.schemaregistry.v1+json"


# ----------------------------------------------------------------------------- helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc, marker, timeout=30.0):
    """Waits until the process prints a line containing marker on stdout."""
    deadline = time.time() + timeout
    lines = []

    def reader():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if marker in line:
                ready.set()
        ready.set()  # EOF: the process ended

    ready = threading.Event()
    threading.Thread(target=reader, daemon=True).start()
    ready.wait(max(0.0, deadline - time.time()))
    if proc.poll() is not None or not any(marker in l for l in lines):
        raise RuntimeError(
            "%s did not become ready: %s" % (proc.args[0], "".join(lines)[-2000:])
        )


class Client:
    """One keep-alive HTTP/1.1 connection (http.client reuses it between requests)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def req(self, method, path, body=None):
        headers = {"Accept": CT}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = CT
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, raw, r.getheader("Content-Type")
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def json(self, method, path, body=None, expect=(200,)):
        status, raw, _ = self.req(method, path, body)
        if status not in expect:
            raise RuntimeError(
                "%s %s -> %d %s" % (method, path, status, raw[:300].decode("utf-8", "replace"))
            )
        return json.loads(raw) if raw else None

    def close(self):
        self.conn.close()


def route_timing(client, route):
    """(sum of seconds, count) of the server's latency histogram for one route template,
    from GET /metrics; (None, None) when the server does not expose it."""
    try:
        status, raw, _ = client.req("GET", "/metrics")
    except Exception:  # noqa: BLE001 - metrics are optional here
        return None, None
    if status != 200:
        return None, None
    tot = cnt = None
    for line in raw.decode("utf-8", "replace").splitlines():
        if 'route="%s"' % route not in line:
            continue
        name = line.split("{", 1)[0]
        if name.endswith("_sum"):
            tot = float(line.rsplit(" ", 1)[1])
        elif name.endswith("_count"):
            cnt = float(line.rsplit(" ", 1)[1])
    return tot, cnt


def q(subject):
    return urllib.parse.quote(subject, safe="")


def vm_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024.0  # kB -> MiB
    return out


# --------------------------------------------------------------------------------- wrk


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s.strip())
    return float(m.group(1)) * UNIT[m.group(2)] if m else float("nan")


def run_wrk(url, seconds, script=None, threads=1, conns=64):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True)
    text = out.stdout.decode()
    res = {"rps": float("nan"), "p50": float("nan"), "p99": float("nan"), "errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50%", "p50"), ("99%", "p99")):
        m = re.search(r"^\s+%s\s+(\S+)" % re.escape(pct), text, re.M)
        if m:
            res[key] = to_ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        res["errors"] += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    res["raw"] = text
    return res


def lua_post_script(path, body, dirpath, name):
    """A wrk script that POSTs body to path. Lua long brackets need no escaping as long
    as the closing bracket does not occur in the body."""
    level = "=" * 4
    while ("]%s]" % level) in body:
        level += "="
    p = os.path.join(dirpath, name)
    with open(p, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.path = "%s"\n' % path)
        f.write('wrk.headers["Content-Type"] = "%s"\n' % CT)
        f.write("wrk.body = [%s[%s]%s]\n" % (level, body, level))
    return p


# ----------------------------------------------------------------------------- schemas


BASE_FIELDS = [
    {"name": "id", "type": "string"},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "updated_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "given_name", "type": "string"},
    {"name": "family_name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": None},
    {"name": "phone", "type": ["null", "string"], "default": None},
    {"name": "age", "type": "int", "default": 0},
    {"name": "score", "type": "double", "default": 0.0},
    {"name": "active", "type": "boolean", "default": True},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    {"name": "attrs", "type": {"type": "map", "values": "string"}, "default": {}},
    {
        "name": "status",
        "type": {
            "type": "enum",
            "name": "Status",
            "symbols": ["ACTIVE", "SUSPENDED", "CLOSED"],
            "default": "ACTIVE",
        },
        "default": "ACTIVE",
    },
    {
        "name": "address",
        "type": [
            "null",
            {
                "type": "record",
                "name": "Address",
                "fields": [
                    {"name": "street", "type": "string"},
                    {"name": "city", "type": "string"},
                    {"name": "postcode", "type": ["null", "string"], "default": None},
                    {"name": "country", "type": "string", "default": "GB"},
                ],
            },
        ],
        "default": None,
    },
    {"name": "balance", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "birth_date", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
    {"name": "locale", "type": "string", "default": "en-GB"},
    {"name": "version", "type": "long", "default": 0},
    {"name": "checksum", "type": {"type": "fixed", "name": "Md5", "size": 16}},
    {"name": "notes", "type": ["null", "string"], "default": None},
]


def person_schema(extra):
    """The ~20-field record plus `extra` optional fields, each with a default."""
    fields = list(BASE_FIELDS)
    for i in range(extra):
        fields.append({"name": "extra_%d" % i, "type": ["null", "string"], "default": None})
    return json.dumps(
        {"type": "record", "name": "Person", "namespace": "bench.canon", "fields": fields},
        separators=(",", ":"),
    )


def small_schema(i):
    """A distinct ~8-field record for the memory test."""
    return json.dumps(
        {
            "type": "record",
            "name": "Rec%d" % i,
            "namespace": "bench.mem",
            "fields": [
                {"name": "id", "type": "string"},
                {"name": "n%d" % i, "type": "long"},
                {"name": "name", "type": ["null", "string"], "default": None},
                {"name": "amount", "type": "double", "default": 0.0},
                {"name": "flag", "type": "boolean", "default": False},
                {"name": "when", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
                {"name": "kind", "type": {"type": "enum", "name": "Kind%d" % i, "symbols": ["A", "B", "C"]}},
            ],
        },
        separators=(",", ":"),
    )


# ------------------------------------------------------------------------------ phases


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="canon-bench-")
        self.procs = []
        self.rows = []  # (measure, bare, canon, ratio/value, goal, verdict)

    # -- processes

    def start(self, argv, marker, log=None):
        # The access log goes to a file, as it would in production, not to /dev/null.
        err = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err)
        if log:
            err.close()
        self.procs.append(p)
        wait_ready(p, marker)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_canon(self, db):
        port = free_port()
        argv = [self.a.canon, "registry", "--listen", "127.0.0.1:%d" % port, "--db", db]
        if self.a.quiet:
            argv.append("--quiet")
        p = self.start(argv, "listening on", os.path.join(self.tmp, "canon-%d.log" % port))
        return p, port

    def start_bare(self, body, status=200):
        port = free_port()
        path = os.path.join(self.tmp, "body-%d" % port)
        with open(path, "wb") as f:
            f.write(body)
        p = self.start(
            [self.a.bare, "--listen", "127.0.0.1:%d" % port, "--body", path, "--status", str(status)],
            "listening on",
        )
        return p, port

    def log(self, msg):
        print("  .. " + msg, file=sys.stderr, flush=True)

    # -- measures

    def compare(self, label, path, canon_port, body_bytes, script=None, goal_ratio=None, goal_p99=None):
        bare, bare_port = self.start_bare(body_bytes)
        try:
            runs = {}
            # Alternate so that neither side benefits from a warmer or quieter machine;
            # with several rounds keep each side's best run (noise only ever slows down).
            for rnd in range(self.a.rounds):
                for side, port in (("bare", bare_port), ("canon", canon_port)):
                    self.log("wrk %s %s on %s (%ds, round %d/%d)" % (
                        label, path, side, self.a.duration, rnd + 1, self.a.rounds))
                    res = run_wrk("http://127.0.0.1:%d%s" % (port, path), self.a.duration,
                                  script)
                    if self.a.verbose:
                        print(res["raw"], file=sys.stderr)
                    if side not in runs or res["rps"] > runs[side]["rps"]:
                        runs[side] = res
        finally:
            self.stop(bare)
        b, c = runs["bare"], runs["canon"]
        ratio = c["rps"] / b["rps"] if b["rps"] else float("nan")
        self.rows.append(
            (label + " req/s", "%.0f" % b["rps"], "%.0f" % c["rps"], "%.2f" % ratio,
             ">= %.1f x bare" % goal_ratio, verdict(ratio >= goal_ratio))
        )
        p99_goal = ("< %g ms" % goal_p99) if goal_p99 else "-"
        p99_verdict = verdict(c["p99"] < goal_p99) if goal_p99 else ""
        self.rows.append(
            (label + " p50 ms", "%.2f" % b["p50"], "%.2f" % c["p50"], "", "-", "")
        )
        self.rows.append(
            (label + " p99 ms", "%.2f" % b["p99"], "%.2f" % c["p99"], "", p99_goal, p99_verdict)
        )
        if c["errors"] or b["errors"]:
            self.rows.append(
                (label + " errors", str(b["errors"]), str(c["errors"]), "", "0",
                 verdict(c["errors"] == 0))
            )

    def phase_reads(self, port):
        cl = Client(port)
        subj = "bench.read-value"
        reg = cl.json("POST", "/subjects/%s/versions" % q(subj), {"schema": person_schema(0)})
        sid = reg["id"]
        # The exact bytes the registry answers, for the bare server to answer too.
        path = "/schemas/ids/%d" % sid
        status, raw, ctype = cl.req("GET", path)
        if status != 200:
            raise RuntimeError("GET %s -> %d" % (path, status))
        self.compare("GET /schemas/ids/{id}", path, port, raw, goal_ratio=0.9, goal_p99=5)

        lpath = "/subjects/%s" % q(subj)
        lbody = json.dumps({"schema": person_schema(0)})
        status, raw, ctype = cl.req("POST", lpath, lbody.encode())
        if status != 200:
            raise RuntimeError("POST %s -> %d %r" % (lpath, status, raw[:200]))
        script = lua_post_script(lpath, lbody, self.tmp, "lookup.lua")
        self.compare("lookup POST /subjects/{s}", lpath, port, raw, script=script, goal_ratio=0.5)
        cl.close()

    def phase_register(self, port):
        cl = Client(port)
        subj = "bench.evolve-value"
        cl.json("PUT", "/config/%s" % q(subj), {"compatibility": "FULL_TRANSITIVE"})
        self.log("registering 100 versions of a %d-field record under FULL_TRANSITIVE" % len(BASE_FIELDS))
        for v in range(100):
            cl.json("POST", "/subjects/%s/versions" % q(subj), {"schema": person_schema(v)})
        versions = cl.json("GET", "/subjects/%s/versions" % q(subj))
        if len(versions) != 100:
            raise RuntimeError("expected 100 versions, got %d" % len(versions))
        # Client and transport overhead on this connection: a trivial request.
        base = []
        for _ in range(200):
            t0 = time.perf_counter()
            cl.json("GET", "/schemas/types")
            base.append((time.perf_counter() - t0) * 1e3)
        overhead = statistics.median(base)
        # Each new version is checked against every existing one (100, then 101, ...).
        route = "/subjects/{subject}/versions"
        s0, c0 = route_timing(cl, route)
        times = []
        for v in range(100, 100 + self.a.reg_samples):
            body = {"schema": person_schema(v)}
            t0 = time.perf_counter()
            r = cl.json("POST", "/subjects/%s/versions" % q(subj), body)
            times.append((time.perf_counter() - t0) * 1e3)
            if "id" not in r:
                raise RuntimeError("registration answered %r" % r)
        s1, c1 = route_timing(cl, route)
        # The same check without the write: the dry-run endpoint, same level and versions.
        dry = []
        for v in range(100 + self.a.reg_samples, 100 + 2 * self.a.reg_samples):
            t0 = time.perf_counter()
            r = cl.json("POST", "/compatibility/subjects/%s/versions" % q(subj),
                        {"schema": person_schema(v)})
            dry.append((time.perf_counter() - t0) * 1e3)
            if not r.get("is_compatible"):
                raise RuntimeError("dry-run check answered %r" % r)
        # The write without a check: a new schema under a new subject (nothing to check).
        bare_write = []
        for i in range(self.a.reg_samples):
            t0 = time.perf_counter()
            cl.json("POST", "/subjects/%s/versions" % q("bench.solo%d-value" % i),
                    {"schema": small_schema(1000000 + i)})
            bare_write.append((time.perf_counter() - t0) * 1e3)
        cl.close()
        first, med, worst = times[0], statistics.median(times), max(times)
        self.rows.append(
            ("register v101 (FULL_TRANSITIVE, 100 existing) ms", "", "%.2f" % first, "",
             "< 20 ms", verdict(first < 20))
        )
        self.rows.append(
            ("register v101..v%d median / max ms" % (100 + self.a.reg_samples), "",
             "%.2f / %.2f" % (med, worst), "", "< 20 ms", verdict(med < 20))
        )
        self.rows.append(
            ("  of which client+HTTP round trip (GET /schemas/types) ms", "",
             "%.3f" % overhead, "", "-", "")
        )
        if s0 is not None and s1 is not None and c1 > c0:
            server_ms = (s1 - s0) / (c1 - c0) * 1e3
            self.rows.append(
                ("  server-side mean (from /metrics) ms", "", "%.2f" % server_ms, "",
                 "< 20 ms", verdict(server_ms < 20))
            )
        self.rows.append(
            ("  the check alone (POST /compatibility/.../versions) median ms", "",
             "%.2f" % statistics.median(dry), "", "-", ""))
        self.rows.append(
            ("  the write alone (new subject, nothing to check) median ms", "",
             "%.2f" % statistics.median(bare_write), "", "-", ""))
        if s0 is None or s1 is None or c1 <= c0:
            self.rows.append(
                ("  server-side estimate (median - round trip) ms", "",
                 "%.2f" % max(0.0, med - overhead), "", "< 20 ms",
                 verdict(med - overhead < 20))
            )

    def phase_memory(self, proc, port, db):
        n = self.a.mem_schemas
        self.log("registering %d distinct schemas (%d clients)" % (n, self.a.mem_clients))
        errors = []
        ids = [None] * n

        def worker(k):
            cl = Client(port)
            try:
                for i in range(k, n, self.a.mem_clients):
                    r = cl.json("POST", "/subjects/%s/versions" % q("bench.mem%d-value" % i),
                                {"schema": small_schema(i)})
                    ids[i] = r["id"]
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                cl.close()

        t0 = time.time()
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(self.a.mem_clients)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        elapsed = time.time() - t0
        if errors:
            raise RuntimeError("memory phase: %s" % errors[0])
        after_reg = vm_status(proc.pid)
        # Read every schema once, so that any lazily filled cache is full.
        cl = Client(port)
        for sid in ids:
            cl.json("GET", "/schemas/ids/%d" % sid)
        cl.close()
        after_read = vm_status(proc.pid)
        self.rows.append(
            ("register %d schemas: rate /s (%d clients)" % (n, self.a.mem_clients), "",
             "%.0f" % (n / elapsed), "", "-", "")
        )
        self.rows.append(
            ("VmRSS after registering %d schemas MB" % n, "", "%.1f" % after_reg["VmRSS"], "",
             "< 50 MB", verdict(after_reg["VmRSS"] < 50))
        )
        self.rows.append(
            ("  of which anonymous (heap) / file-backed MB", "",
             "%.1f / %.1f" % (after_reg["RssAnon"], after_reg["RssFile"]), "", "-", "")
        )
        self.rows.append(
            ("VmRSS after reading each once MB (VmHWM)", "",
             "%.1f (%.1f)" % (after_read["VmRSS"], after_read["VmHWM"]), "", "< 50 MB",
             verdict(after_read["VmRSS"] < 50))
        )
        # A restart loads everything from SQLite: the resident size a fresh process needs.
        self.stop(proc)
        p2, port2 = self.start_canon(db)
        cl = Client(port2)
        cl.json("GET", "/schemas/ids/%d" % ids[-1])
        cl.close()
        restarted = vm_status(p2.pid)
        empty = self.empty_rss
        self.rows.append(
            ("VmRSS after restart on that db MB", "", "%.1f" % restarted["VmRSS"], "",
             "< 50 MB", verdict(restarted["VmRSS"] < 50))
        )
        if empty:
            self.rows.append(
                ("  (an empty registry: VmRSS MB)", "", "%.1f" % empty["VmRSS"], "", "-", "")
            )
        self.stop(p2)

    def phase_entities(self):
        # A registry of its own, so that the other phases' figures (memory above all) do
        # not depend on whether this one ran.
        proc, port = self.start_canon(os.path.join(self.tmp, "entities.db"))
        n = self.a.entities
        self.log("registering %d canonical entities (person.avsc)" % n)
        cl = Client(port)
        schema = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                   "schemas", "person.avsc")).read()
        for i in range(n):
            cl.json("POST", "/subjects/%s/versions" % q("canon.bench%d.entity" % i),
                    {"schema": schema})

        def timed(path, k):
            times = []
            for _ in range(k):
                t0 = time.perf_counter()
                status, raw, _ = cl.req("GET", path)
                times.append((time.perf_counter() - t0) * 1e3)
                if status != 200:
                    raise RuntimeError("GET %s -> %d" % (path, status))
            return times, len(raw)

        timed("/canon/entities", 1)  # remembered from here
        warm, size = timed("/canon/entities", 20)
        # A config change anywhere (as a delete or a mode change) makes every entity's
        # answer be derived again at the next call.
        cold = []
        for i in range(5):
            cl.json("PUT", "/config/%s" % q("bench.touch-value"),
                    {"compatibility": ["BACKWARD", "FORWARD"][i % 2]})
            cold += timed("/canon/entities", 1)[0]
        one, _ = timed("/canon/entities/bench0", 50)
        cl.close()
        self.stop(proc)
        self.rows.append(
            ("GET /canon/entities, %d entities (%d KB), remembered: median ms" % (n, size // 1024),
             "", "%.1f" % statistics.median(warm), "", "-", ""))
        self.rows.append(
            ("  the first after a change (all derived again): median ms", "",
             "%.1f" % statistics.median(cold), "", "-", ""))
        self.rows.append(
            ("GET /canon/entities/{e}: median ms", "", "%.2f" % statistics.median(one), "", "-",
             ""))

    def run(self):
        db = os.path.join(self.tmp, "bench.db")
        canon, port = self.start_canon(db)
        # The baseline: what the process holds before any schema exists.
        self.empty_rss = vm_status(canon.pid)
        try:
            if "reads" in self.a.phases:
                self.phase_reads(port)
            if "register" in self.a.phases:
                self.phase_register(port)
            if "entities" in self.a.phases:
                self.phase_entities()
            if "memory" in self.a.phases:
                self.phase_memory(canon, port, db)
        finally:
            for p in self.procs:
                self.stop(p)
            if not self.a.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)
        self.print_table()

    def print_table(self):
        hdr = ("measure", "bare", "canon", "ratio", "goal", "")
        rows = [hdr] + self.rows
        w = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
        print()
        print("canon registry benchmark  (%s, %d cores, wrk -t1 -c64 -d%ds)" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), self.a.duration))
        for k, r in enumerate(rows):
            print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) if i < 4 else c.ljust(w[i])
                            for i, c in enumerate(r)).rstrip())
            if k == 0:
                print("  ".join("-" * x for x in w))


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--canon", default=os.environ.get("CANON_BIN"), help="canon binary ($CANON_BIN)")
    ap.add_argument("--bare", default=os.environ.get("BARE_BIN"), help="bare_server binary ($BARE_BIN)")
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run (default 8)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="bare/canon wrk pairs per endpoint, best kept (default 1)")
    ap.add_argument("--reg-samples", type=int, default=20, help="registrations timed (default 20)")
    ap.add_argument("--mem-schemas", type=int, default=10000,
                    help="distinct schemas registered for the memory figure (default 10000)")
    ap.add_argument("--mem-clients", type=int, default=4,
                    help="concurrent clients registering them (default 4)")
    ap.add_argument("--entities", type=int, default=200,
                    help="canonical entities of the entities phase (default 200)")
    ap.add_argument("--phases", default="reads,register,entities,memory",
                    help="comma-separated subset of reads,register,entities,memory")
    ap.add_argument("--quiet", action="store_true", help="pass --quiet to canon registry")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="print wrk's output")
    a = ap.parse_args()
    if not a.canon or not a.bare:
        ap.error("need --canon and --bare (or CANON_BIN, BARE_BIN); run.sh sets them")
    if not shutil.which("wrk"):
        ap.error("wrk not found (apt-get install wrk)")
    a.phases = set(a.phases.split(","))
    Bench(a).run()


if __name__ == "__main__":
    main()
