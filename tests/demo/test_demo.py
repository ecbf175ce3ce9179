"""test_demo.py - the README's first command (scripts/demo.sh) runs and shows what it claims.

The demo starts `canon serve` on its embedded defaults (in-process Kafka cluster), registers
schemas/, and sends updates from two domains through the aggregator. Each assertion below
is a claim the demo prints for a newcomer; if the merge, the DLQ or the registry stopped
doing it, the demo would mislead, so the test fails.
"""
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_demo_runs_and_shows_the_merge():
    env = dict(os.environ)
    env.pop("KEEP", None)
    out = subprocess.run(["bash", str(ROOT / "scripts/demo.sh")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
    assert out.returncode == 0, f"demo failed ({out.returncode}):\n{text[-3000:]}\n{out.stderr[-3000:]}"
    # registry part
    assert '"canon.person.updates-value"' in text and '"canon.person-value"' in text
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in text          # incompatible change refused
    assert '"error_code": 42201' in text                         # contract violation refused
    # aggregator part: HR's newer email wins over CRM's older one, CRM's phone is kept
    state = text[text.index("== The canonical state"):text.index("== The rejected update")]
    assert '"email": "ada@hr.example"' in state
    assert "old@crm.example" not in state
    assert '"phone": "+44 20 7946 0000"' in state
    assert '"given_name": "Ada"' in state                        # support's write refused
    dlq = text[text.index("== The rejected update"):]
    assert '"canon.error.code": "WRITER"' in dlq
    assert "may not write field 'given_name'" in dlq
    assert "Try next" in text
