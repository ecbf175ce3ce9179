"""test_tutorial.py - docs/tutorial.md works as written.

The tutorial's shell blocks from step 2 on are run as they are, in order, with bash, in a
scratch directory laid out like the checkout (build/canon, .venv, translators/ linked), with
REG and BOOT pointing at a `canon serve` on a Kafka broker of its own (step 1 of the
tutorial, `KEEP=1 scripts/demo.sh`, is what tests/demo runs). The file the reader saves by
hand (payroll.json) is taken from the tutorial's text. Then the claims the tutorial makes
about the result are checked.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALAN = "7a8aa3ba-9ca8-57fc-8d0f-c38e62ef9fe4"
ADA = "0cd19918-2d16-5810-b788-31448d705015"


def tutorial_blocks():
    text = (ROOT / "docs" / "tutorial.md").read_text()
    body = text[text.index("## 2."):]
    payroll = re.search(r"Save this as `payroll.json`:\n\n```json\n(.*?)```", body, re.S).group(1)
    return payroll, re.findall(r"```sh\n(.*?)```", body, re.S)


def start_serve(canon, tmp_path, boot):
    out = open(tmp_path / "serve.out", "w+")
    err = open(tmp_path / "serve.err", "w+")
    proc = subprocess.Popen([canon, "serve", "--listen", "127.0.0.1:0", "--db",
                             str(tmp_path / "canon.db"), "--quiet", "--bootstrap-servers", boot],
                            stdout=out, stderr=err)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"http://[0-9.:]+", (tmp_path / "serve.out").read_text())
        if m:
            return proc, m.group(0)
        assert proc.poll() is None, (tmp_path / "serve.err").read_text()
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("canon serve did not start")


def wait_for(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_tutorial_adds_payroll_as_written(canon, kafka_broker, tmp_path):
    broker = kafka_broker()
    proc, reg = start_serve(canon, tmp_path, broker.bootstrap)
    try:
        schema = (ROOT / "schemas" / "person.avsc").read_text()
        req = urllib.request.Request(reg + "/subjects/canon.person.entity/versions",
                                     data=json.dumps({"schema": schema}).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        urllib.request.urlopen(req, timeout=10).read()
        log = lambda: (tmp_path / "serve.out").read_text() + (tmp_path / "serve.err").read_text()
        wait_for(lambda: "serving entity 'person'" in log(), "the aggregator on person")

        # the checkout, as the tutorial's commands see it
        work = tmp_path / "checkout"
        (work / "build").mkdir(parents=True)
        (work / "build" / "canon").symlink_to(canon)
        (work / ".venv").symlink_to(Path(sys.prefix))  # the venv running this test
        (work / "translators").symlink_to(ROOT / "translators")
        payroll, blocks = tutorial_blocks()
        (work / "payroll.json").write_text(payroll)
        env = dict(os.environ, REG=reg, BOOT=broker.bootstrap, PYTHONUTF8="1")
        outputs = []
        for block in blocks:
            r = subprocess.run(["bash", "-c", block], cwd=work, env=env, capture_output=True,
                               text=True, timeout=300)
            outputs.append((block, r.stdout + r.stderr))
        text = "\n".join(o for _, o in outputs)
        assert "published 3 records to payroll.people" in text
        assert "payroll.people -> canon.person.updates: 3 records in, 3 updates out" in text
        assert "bad.json:10: domain 'payroll' may not write 'birth_date' (canon.writers: hr)" in text
        assert "exit 2" in text
        assert "bad2.json:10: unknown option 'form' in field 'address.city'; did you mean 'from'?" in text
        assert "1 record in, 0 updates out (0 deletes), 1 dead letter (payroll.people.dlq)" in text
        assert '"canon.error.message":"key: field \'work_email\' is missing"' in text
        assert ALAN in text  # --print-ids

        # what step 5 says the canon holds (asked again: the blocks ran right after the
        # translator, before the aggregator had necessarily merged)
        def state(key):
            r = subprocess.run([canon, "state", "person", key, "--bootstrap-servers",
                                broker.bootstrap, "--registry", reg], capture_output=True,
                               text=True, timeout=60)
            return json.loads(r.stdout) if r.returncode == 0 else None

        wait_for(lambda: (state(ADA) or {}).get("version") == 2, "Ada's second version")
        alan = state(ALAN)
        assert alan["state"]["address"] == {"street": "Hollymeade, Adlington Road",
                                            "city": "Wilmslow", "postal_code": "SK9 2BN",
                                            "country": "GB"}
        assert alan["provenance"]["address"]["source"] == "payroll"
        assert alan["provenance"]["address"]["time"] == "2026-03-16T00:00:00.000Z"
        ada = state(ADA)
        assert ada["state"]["address"] is None
        assert ada["provenance"]["address"]["source"] == "payroll"
        assert ada["provenance"]["address"]["time"] == "2026-03-20T00:00:00.000Z"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    err = (tmp_path / "serve.err").read_text(errors="replace")
    assert "Sanitizer" not in err, err[-4000:]
    assert rc == 0, f"canon serve exited {rc}:\n{err[-2000:]}"
