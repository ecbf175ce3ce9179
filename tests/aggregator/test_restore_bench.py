"""test_restore_bench.py - issue 5's restore benchmark, bench/aggregator/restore.py, at
20,000 keys against the suite's broker.

The bench target restores 1,000,000 keys (figures in docs/aggregator.md section 7) and is
run by hand; this runs the same program small, so that it cannot rot unseen, and checks
what does not depend on the machine's speed: every key is restored, first from the canon
topic alone, then from the checkpoint the first run wrote at its clean stop (every key
from the checkpoint, and no canon record read then). The times are not judged.
"""
import re
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESTORE = ROOT / "bench" / "aggregator" / "restore.py"
KEYS = 20000

LINE = re.compile(r"^from the (canon topic|checkpoint) *: (\d+) keys restored \((\d+) canon records read, "
                  r"(\d+) keys from the checkpoint\)", re.M)


def test_restore_from_topic_then_checkpoint(canon, kafka, tmp_path):
    entity = "restore_" + uuid.uuid4().hex[:8]  # the program wants topics that do not exist yet
    r = subprocess.run([sys.executable, str(RESTORE), "--keys", str(KEYS), "--partitions", "3",
                        "--entity", entity, "--timeout", "300", "--bootstrap", kafka.bootstrap,
                        "--canon-bin", canon, "--workdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    runs = {m.group(1): tuple(map(int, m.group(2, 3, 4))) for m in LINE.finditer(r.stdout)}
    assert set(runs) == {"canon topic", "checkpoint"}, r.stdout[-3000:]
    keys, records, from_cp = runs["canon topic"]
    assert (keys, from_cp) == (KEYS, 0) and records >= KEYS, runs
    assert runs["checkpoint"] == (KEYS, 0, KEYS), runs
    assert re.search(r"^  checkpoint at the clean stop: %d keys written" % KEYS, r.stdout, re.M), r.stdout[-3000:]
