"""test_auth_sources.py - `canon aggregate --auth-file`: only listed domain writers feed an
entity (issue 7, item 1; docs/security.md, "The aggregator: domain writers").

Kafka records do not carry the producer's principal, so the aggregator checks an update's
`source` against the domain writers the auth file lists for the entity: an update from a
domain not listed goes to canon.<entity>.dlq byte for byte with canon.error.code
UNLISTED_SOURCE, even where canon.writers would let that domain write the field. SIGHUP
re-reads the file (at the next update), and a bad file keeps the old one.
"""
import json
import signal
import subprocess
import time
import uuid


def hashed(canon, pw):
    out = subprocess.run([canon, "auth", "hash-password", "--iterations", "1000"], input=pw + "\n",
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def auth_doc(pw_hash, entity, hr_listed):
    users = [{"name": "admin", "password": pw_hash, "role": "admin"},
             {"name": "crm", "password": pw_hash, "role": "domain", "domain": "crm",
              "entities": [entity]},
             {"name": "hr", "password": pw_hash, "role": "domain", "domain": "hr",
              "entities": [entity] if hr_listed else ["someother"]}]
    return {"users": users}


def headers(m):
    return {k: v.decode() for k, v in (m.headers() or [])}


def test_unlisted_source_is_dead_lettered_and_sighup_reloads(canon, entity, aggregator, tmp_path):
    pw = hashed(canon, "pw")
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(auth_doc(pw, entity.name, hr_listed=False)))
    agg = aggregator(entity, extra=["--auth-file", str(path)])
    k = str(uuid.uuid4())
    entity.update(k, "crm", 1000, {"email": "a@x"})
    hr_value = entity.encode(k, "hr", 2000, {"given_name": "Ann"})  # canon.writers allows hr
    entity.send(k, hr_value)
    dlq = entity.read(entity.dlq, 1, timeout=60)
    assert len(dlq) == 1, agg.text()[-3000:]
    h = headers(dlq[0])
    assert h["canon.error.code"] == "UNLISTED_SOURCE", h
    assert "'hr'" in h["canon.error.message"]
    assert dlq[0].value() == hr_value
    env = entity.envelopes(1, timeout=60)
    assert len(env) == 1 and env[0][1]["after"]["email"] == "a@x"
    assert env[0][1]["after"]["given_name"] is None

    # a bad file on SIGHUP: the old one stays (hr still refused)
    path.write_text("{ broken")
    agg.proc.send_signal(signal.SIGHUP)
    entity.update(k, "hr", 3000, {"given_name": "Bea"})
    assert len(entity.read(entity.dlq, 2, timeout=60)) == 2
    assert "stays in force" in agg.text()

    # hr listed now: its next update is merged
    path.write_text(json.dumps(auth_doc(pw, entity.name, hr_listed=True)))
    agg.proc.send_signal(signal.SIGHUP)
    entity.update(k, "hr", 4000, {"given_name": "Cy"})
    env = entity.envelopes(2, timeout=60)
    assert len(env) == 2 and env[1][1]["after"]["given_name"] == "Cy", env
    deadline = time.monotonic() + 10
    while "auth file reloaded" not in agg.text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "auth file reloaded" in agg.text()
    assert len(entity.read(entity.dlq, 3, timeout=3)) == 2
    agg.stop()


def test_bad_auth_file_stops_the_start(canon, kafka, registry, tmp_path):
    bad = tmp_path / "auth.json"
    bad.write_text(json.dumps({"users": [{"name": "x", "password": "pw", "role": "admin"}]}))
    out = subprocess.run([canon, "aggregate", "--bootstrap-servers", kafka.bootstrap, "--registry",
                          registry.url, "--auth-file", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out
    assert "users[0] 'x'" in out.stderr and "'password'" in out.stderr, out.stderr
