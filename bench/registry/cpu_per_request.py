#!/usr/bin/env python3
"""cpu_per_request.py - the registry's CPU time per request, for comparing two builds.

Requests/s and latency move with whatever else runs on this 2-core machine; the CPU time
the server process spends per request (utime + stime from /proc/PID/stat over a wrk run,
divided by the requests wrk completed) moves much less, so it tells whether a change made
a path cheaper or dearer even on a busy machine. For each binary given, starts
`canon registry` on a temporary database, registers a 20-field record, then runs wrk (1
thread, 64 connections, 6 s) on GET /schemas/ids/1 and on a lookup POST /subjects/{s}
with the registered text. Usage:

    bench/registry/cpu_per_request.py build-a/canon build-b/canon [build-a/canon ...]

Needs wrk; standard library only.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

CT = "application/vnd.schemaregistry.v1+json"


def cpu_seconds(pid):
    st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def measure(binary):
    d = tempfile.mkdtemp(prefix="canon-cpu-")
    log = open(os.path.join(d, "stderr.log"), "w")
    p = subprocess.Popen([binary, "registry", "--listen", "127.0.0.1:0", "--db",
                          os.path.join(d, "x.db")], stdout=subprocess.PIPE, stderr=log)
    try:
        m = re.search(rb"listening on (http://\S+)", p.stdout.readline())
        if not m:
            raise SystemExit(f"{binary} did not start")
        url = m.group(1).decode()
        fields = [{"name": f"f{i}", "type": ["null", "string"], "default": None,
                   "doc": f"field number {i}"} for i in range(20)]
        text = json.dumps({"type": "record", "name": "Read", "namespace": "bench",
                           "fields": fields})
        body = json.dumps({"schema": text}).encode()
        req = urllib.request.Request(url + "/subjects/bench-value/versions", data=body,
                                     headers={"Content-Type": CT})
        urllib.request.urlopen(req).read()
        with open(os.path.join(d, "body.json"), "wb") as f:
            f.write(body)
        lua = os.path.join(d, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "%s"\n'
                    'local f = io.open("%s", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
                    % (CT, os.path.join(d, "body.json")))
        out = {}
        for name, args in (("GET /schemas/ids/{id}", [url + "/schemas/ids/1"]),
                           ("lookup POST /subjects/{s}",
                            ["-s", lua, url + "/subjects/bench-value"])):
            c0 = cpu_seconds(p.pid)
            w = subprocess.run(["wrk", "-t1", "-c64", "-d6s"] + args, capture_output=True,
                               text=True).stdout
            c1 = cpu_seconds(p.pid)
            n = int(re.search(r"(\d+) requests in", w).group(1))
            out[name] = (c1 - c0) / n * 1e6
        return out
    finally:
        p.terminate()
        p.wait()
        log.close()


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for b in sys.argv[1:]:
        r = measure(b)
        print(f"{b}: server CPU per request: " +
              ", ".join(f"{k} {v:.1f} us" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
