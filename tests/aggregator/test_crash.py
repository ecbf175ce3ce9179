"""test_crash.py - issue 5's crash test, at the size of the test command.

bench/aggregator/crash.py kills `canon aggregate` with SIGKILL at random moments while
updates flow, restarts it each time, and then checks that no update was lost, no canon
version was duplicated or skipped, and the final state equals a plain model of the merge
rules. The bench target runs 200,000 updates over 10,000 keys with 20 kills; here the same
program runs 20,000 updates over 2,000 keys with 4 kills, against the suite's broker, once
restoring from the canon topic alone and once with a shared SQLite checkpoint. Running the
program itself (not a copy of it) also keeps the bench target from rotting unseen.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CRASH = ROOT / "bench" / "aggregator" / "crash.py"


@pytest.mark.parametrize("checkpoint", [False, True], ids=["topic", "checkpoint"])
def test_kill9_four_times_loses_nothing(canon, kafka, tmp_path, checkpoint):
    args = [sys.executable, str(CRASH), "--updates", "20000", "--keys", "2000", "--kills", "4",
            "--seed", "7" if checkpoint else "3", "--timeout", "600", "--bootstrap", kafka.bootstrap,
            "--canon-bin", canon, "--workdir", str(tmp_path)]
    if checkpoint:
        args.append("--checkpoint")
    r = subprocess.run(args, capture_output=True, text=True, timeout=700)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"crash.py exited {r.returncode}:\n{out[-6000:]}"
    assert "PASS: no update lost" in r.stdout, out[-6000:]
    kills = [line for line in r.stdout.splitlines() if re.match(r"kill \d+/4: ", line)]
    assert len(kills) == 4, r.stdout[-3000:]
