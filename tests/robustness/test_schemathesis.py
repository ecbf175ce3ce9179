"""test_schemathesis.py - schemathesis (property-based API testing) against docs/openapi.yaml.

A fresh registry is driven by schemathesis' examples, coverage, fuzzing and stateful phases
with a fixed time budget (ST_MAX_TIME seconds, default 45) and a deterministic generator, so
the run fits in CI. Checks: no 5xx (not_a_server_error), every response's status code,
content type and body conform to the OpenAPI document. The registry must then exit cleanly
with no sanitizer report (the fixture's teardown).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECKS = ("not_a_server_error,response_schema_conformance,status_code_conformance,"
          "content_type_conformance")


def test_openapi_no_server_error_and_conformance(fresh, tmp_path):
    st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    assert os.access(st, os.X_OK), f"schemathesis not installed next to {sys.executable}"
    max_time = os.environ.get("ST_MAX_TIME", "45")
    cmd = [st, "run", os.path.join(ROOT, "docs", "openapi.yaml"), "--url", fresh.base,
           "--checks", CHECKS, "--phases", "examples,coverage,fuzzing,stateful",
           "--max-examples", "5", "--max-time", max_time, "--request-timeout", "30",
           "--generation-deterministic", "--continue-on-failure", "--workers", "1"]
    # Run in a temp dir: schemathesis writes a crash cache (.schemathesis/) into its cwd.
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=float(max_time) + 120,
                       cwd=tmp_path,
                       env={**os.environ, "NO_COLOR": "1"})
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"schemathesis found failures (rc {p.returncode}):\n{out[-12000:]}"
    m = re.search(r"(\d+) generated, (\d+) passed", out)
    assert m, f"no test-case summary in schemathesis output:\n{out[-4000:]}"
    generated, passed = int(m.group(1)), int(m.group(2))
    assert generated >= 100 and passed == generated, out[-4000:]
    print(f"schemathesis: {generated} cases, {passed} passed")
    assert fresh.registry.proc.poll() is None, "registry died during schemathesis"
