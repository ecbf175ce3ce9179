"""test_demo.py - the README's first command (scripts/demo.sh) runs and shows what it claims.

The demo starts `canon serve` on its embedded defaults (in-process Kafka cluster), registers
schemas/, and sends updates from two domains through the aggregator; then the three example
domains (translators/examples: HR's mapping through `canon translate`, CRM's Python app,
Support's Java app) feed the canon on a real broker, and the demo tells one person's story
from the topics. Each assertion below is a claim the demo prints for a newcomer; if the
merge, the DLQ, the registry, a translator or a binding stopped doing it, the demo would
mislead, so the test fails.

CANON_BIN, when set, is the binary the demo uses (it then skips its own build).
"""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


ADA = "0cd19918-2d16-5810-b788-31448d705015"
GRACE = "88a2c0b3-48d2-567b-8787-aa6e72cb8b87"


@pytest.fixture(scope="module")
def demo():
    env = dict(os.environ)
    env.pop("KEEP", None)
    out = subprocess.run(["bash", str(ROOT / "scripts/demo.sh")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
    assert out.returncode == 0, f"demo failed ({out.returncode}):\n{text[-3000:]}\n{out.stderr[-3000:]}"
    return text


def section(text, title, until="\n== "):
    start = text.index("== " + title)
    end = text.find(until, start + 3)
    return text[start:end if end >= 0 else len(text)]


def test_demo_runs_and_shows_the_merge(demo):
    text = demo
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
    dlq = section(text, "The rejected update")
    assert '"canon.error.code": "WRITER"' in dlq
    assert "may not write field 'given_name'" in dlq
    # once support may write it, `canon replay` sends the refused update back, and it merges
    replay = section(text, "The owners agree Support may write given_name")
    assert '"code":"WRITER"' in replay and "replayed 1 of 1 dead letters" in replay
    after = section(text, "The replayed update merged")
    assert '"version": 3' in after and '"given_name": "Eve"' in after
    assert '"family_name": "Lovelace"' in after and '"email": "ada@hr.example"' in after
    assert re.search(r'given_name set by \{"source": "support".*"time": "2026-03-02T09:00:00.000Z"', after)
    assert "Try next" in text


def test_demo_three_domains_translate_their_samples(demo):
    hr = section(demo, "HR:")
    assert "published 5 records to hr.employees" in hr
    assert "5 records in, 5 updates out (1 delete), 0 dead letters" in hr
    crm = section(demo, "CRM:")
    assert "canon gen --lang python --registry" in crm
    assert f"crm -> {ADA} at 2026-03-04T10:00:00Z" in crm
    assert "crm: 4 updates delivered" in crm
    support = section(demo, "Support:")
    assert f"support -> {ADA} at 2026-03-11T10:00:00Z seq 3" in support
    assert '"support_tier": null' in support                      # the clear
    assert "support: 4 updates delivered" in support
    metrics = section(demo, "The aggregator merged 13 updates")
    assert 'canon_updates_in_total{entity="person"} 13' in metrics
    assert 'canon_dlq_out_total{entity="person"} 0' in metrics
    stale = int(re.search(r'canon_stale_fields_total\{entity="person"\} (\d+)', metrics).group(1))
    assert stale >= 8                                             # Ada's alone: 8 (below)


def test_demo_tells_one_persons_story_with_provenance(demo):
    story = section(demo, "Ada Lovelace")
    assert ADA in story
    # arrival order: HR, then CRM, then Support, each with the version it caused
    sources = re.findall(r"^  \[\d+:\d+\] (\w+) ", story, re.M)
    assert sources == ["hr"] * 3 + ["crm"] * 2 + ["support"] * 3, sources
    assert "-> canon version 1 (CREATE)" in story
    # the current state with who set each field, when (from the canon topic's provenance)
    found = list(re.finditer(r"^  (\w+)\s+(.+?)\s+(hr|crm|support)\s+(\S+Z)\s+(\[\d+:\d+\])$",
                             story.split("Current state")[1], re.M))
    rows = {m.group(1): m.group(2, 3, 4) for m in found}
    # each field names the update that set it: an arrival line of that source and event time
    for m in found:
        assert re.search(rf"^  {re.escape(m.group(5))} {m.group(3)}\s+event {m.group(4)}", story,
                         re.M), m.group(0)
    assert rows["family_name"] == ("Lovelace", "hr", "2026-03-10T08:00:00Z")
    assert rows["employment_status"] == ("ON_LEAVE", "hr", "2026-03-10T08:00:00Z")
    assert rows["birth_date"] == ("1815-12-10", "hr", "2026-03-10T08:00:00Z")
    assert rows["phone"] == ("+44 7700 900123", "support", "2026-03-11T10:00:00Z")
    assert rows["support_tier"] == ("(cleared)", "support", "2026-03-11T10:00:00Z")
    # conflicting writes: CRM's family name lost to HR's newer one; phone went to Support
    conflicts = story.split("Conflicting writes")[1].split("Current state")[0]
    fam = conflicts.split("family_name:")[1].split("phone:")[0]
    assert re.search(r"crm\s+King\s+event 2026-03-04T10:00:00Z\n", fam)
    assert re.search(r"hr\s+Lovelace\s+event 2026-03-10T08:00:00Z\s+<- holds", fam)
    assert re.search(r"support\s+\+44 7700 900123\s+event 2026-03-11T10:00:00Z\s+<- holds",
                     conflicts.split("phone:")[1])


def test_demo_explains_why_stale_updates_were_ignored(demo):
    story = section(demo, "Ada Lovelace")
    # the late HR status change (2 March, after 10 March): nothing published, both fields stale
    late_hr = story.split("event 2026-03-02T16:30:00Z")[1].split("\n  [")[0]
    assert "nothing published" in late_hr
    assert ("employment_status: STALE, ignored: hr's value is from 2026-03-02T16:30:00Z, "
            "the canon already holds hr's from 2026-03-10T08:00:00Z") in late_hr
    # the late Support ticket (7 March, after 9 March)
    late_support = story.split("event 2026-03-07T09:00:00Z")[1].split("\n  [")[0]
    assert "nothing published" in late_support
    assert ("phone: STALE, ignored: support's value is from 2026-03-07T09:00:00Z, "
            "the canon already holds support's from 2026-03-09T14:30:00Z") in late_support
    assert "support_tier: STALE" in late_support
    assert len(re.findall(r": STALE, ignored", story)) == 8
    why = section(demo, "Why the stale updates were ignored")
    assert "(event_time, source, seq)" in why
    # the delete of another person holds against an older update that arrived after it
    grace = section(demo, "Grace Hopper")
    assert GRACE in grace
    assert '"deleted": true' in grace and '"op": "DELETE"' in grace
    assert '"state": null' in grace
    late_crm = grace.split("crm      event 2026-03-02T11:00:00Z")[1]
    assert "nothing published" in late_crm
    assert "older than hr's DELETE of 2026-03-12T17:00:00Z" in late_crm
