"""test_storage_faults.py - the registry's SQLite database on a full disk and made read-only.

Disk full: the database lives on a 2 MiB tmpfs mounted for the test (root only: mount(8));
schemas with large docs are registered until the filesystem is full. Read-only: the database
files (db, -wal, -shm on the ordinary filesystem) are made immutable with chattr +i while the
server runs, which stops even root's writes through descriptors already open.

In both cases a registration must fail with a 5xx in Confluent's JSON error format (error_code
5xxxx, a message naming the storage problem), reads must keep answering, and after the fault
is removed - and again after a restart - every acknowledged registration is there, and the
failed ones are nowhere (no subject, no version, no id).
"""
import json
import os
import subprocess

import pytest

from conftest import finish
from helpers import Api, Registry, canon_bin

STORAGE_WORDS = ("disk", "full", "storage", "database", "read-only", "readonly", "i/o", "sqlite",
                 "write")


def _schema(i, pad):
    return {"type": "record", "name": f"S{i}", "doc": f"{i}:" + "p" * pad,
            "fields": [{"name": "a", "type": "long"}]}


def _assert_storage_error(r):
    assert 500 <= r.status_code < 600, (r.status_code, r.text[:300])
    body = r.json()
    assert isinstance(body.get("error_code"), int) and 50000 <= body["error_code"] < 60000, body
    msg = body.get("message", "").lower()
    assert any(w in msg for w in STORAGE_WORDS), f"message does not name the storage problem: {body}"
    return body


def _check_state(api, acked, failed):
    """Every acknowledged (subject, id) is readable; no failed subject exists anywhere."""
    subjects = api.get("/subjects").json()
    for subj, sid, schema in acked:
        assert subj in subjects, (subj, subjects)
        v = api.get(f"/subjects/{subj}/versions/latest")
        assert v.status_code == 200 and v.json()["id"] == sid, (subj, v.text[:200])
        got = api.get(f"/schemas/ids/{sid}")
        assert got.status_code == 200 and json.loads(got.json()["schema"]) == schema
    for subj in failed:
        assert subj not in subjects, f"failed registration {subj} is half-there"
        assert api.get(f"/subjects/{subj}/versions").status_code == 404
    ids = [s["id"] for s in api.get("/schemas").json()]
    assert sorted(ids) == sorted(sid for _, sid, _ in acked), ("stray schema ids", ids)


def _register_until_fail(api, start, limit, pad):
    acked, failed = [], []
    for i in range(start, start + limit):
        subj, schema = f"s{i}", _schema(i, pad)
        r = api.register(subj, schema)
        if r.status_code == 200:
            acked.append((subj, r.json()["id"], schema))
            continue
        body = _assert_storage_error(r)
        failed.append(subj)
        return acked, failed, body
    return acked, failed, None


@pytest.fixture
def tmpfs(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {p.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_disk_full(tmpfs, tmp_path):
    reg = Registry(tmpfs / "reg.db", tmp_path / "full.stderr.log").start()
    api = Api(reg.url)
    try:
        acked, failed, err = _register_until_fail(api, 0, 400, pad=20000)
        assert err is not None, f"2 MiB never filled after {len(acked)} registrations"
        assert len(acked) >= 3, f"only {len(acked)} registrations fit in 2 MiB"
        print(f"disk full after {len(acked)} acknowledged registrations: {err}")
        # A few more attempts while still full: each fails cleanly, none half-lands.
        for i in range(1000, 1003):
            r = api.register(f"s{i}", _schema(i, 20000))
            _assert_storage_error(r)
            failed.append(f"s{i}")
        assert reg.proc.poll() is None, "registry died on a full disk"
        _check_state(api, acked, failed)  # reads still answer
        # Remove the fault: grow the filesystem in place, then register again.
        subprocess.run(["mount", "-o", "remount,size=64M", str(tmpfs)], check=True)
        more, fail2, err2 = _register_until_fail(api, 2000, 3, pad=20000)
        assert err2 is None and len(more) == 3, err2
        acked += more
        _check_state(api, acked, failed)
    finally:
        finish(reg)
    reg = Registry(tmpfs / "reg.db", tmp_path / "full2.stderr.log").start()
    try:
        _check_state(Api(reg.url), acked, failed)
    finally:
        finish(reg)


def _chattr(flag, paths):
    for p in paths:
        if os.path.exists(p):
            subprocess.run(["chattr", flag, p], check=True, capture_output=True)


def _read_only_case(tmp_path, suffixes):
    db = tmp_path / "ro.db"
    files = [str(db) + s for s in suffixes]
    reg = Registry(db, tmp_path / "ro.stderr.log").start()
    api = Api(reg.url)
    frozen = False
    try:
        acked, failed, err = _register_until_fail(api, 0, 5, pad=10)
        assert err is None and len(acked) == 5
        p = subprocess.run(["chattr", "+i", files[0]], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"chattr +i not possible here (needs root, ext4-like fs): {p.stderr}")
        _chattr("+i", files[1:])
        frozen = True
        for i in range(100, 104):
            r = api.register(f"s{i}", _schema(i, 10))
            body = _assert_storage_error(r)
            failed.append(f"s{i}")
        print(f"read-only {suffixes}: {body}")
        assert reg.proc.poll() is None, "registry died on a read-only database"
        _check_state(api, acked, failed)  # reads still answer
        _chattr("-i", files)
        frozen = False
        more, _, err2 = _register_until_fail(api, 200, 3, pad=10)
        assert err2 is None and len(more) == 3, err2
        acked += more
        _check_state(api, acked, failed)
    finally:
        if frozen:
            _chattr("-i", files)
        finish(reg)
    reg = Registry(db, tmp_path / "ro2.stderr.log").start()
    try:
        _check_state(Api(reg.url), acked, failed)
    finally:
        finish(reg)


def test_read_only_database(tmp_path):
    """The database and its WAL (the files holding data) become immutable while serving."""
    _read_only_case(tmp_path, ["", "-wal"])


def test_read_only_database_directory(tmp_path):
    """Every file of the database's directory becomes immutable, as an operator freezing the
    directory would. SQLite's WAL index used to be a mmapped `-shm` file there, and the next
    write through the frozen mapping killed the registry with SIGBUS; the store now keeps the
    index in heap memory (locking_mode=EXCLUSIVE), so there is no such file to freeze."""
    probe = tmp_path / "probe"
    probe.mkdir()
    reg = Registry(probe / "p.db", tmp_path / "probe.stderr.log").start()
    try:
        Api(reg.url).register("probe", _schema(0, 1)).raise_for_status()
        assert os.listdir(probe) and not [f for f in os.listdir(probe) if f.endswith("-shm")], (
            "the WAL index is a mmapped -shm file", os.listdir(probe))
    finally:
        finish(reg)
    _read_only_case(tmp_path, ["", "-wal", "-shm"])


def test_second_process_on_the_database_is_refused(tmp_path):
    """The registry serves from memory and writes through: a second one on the same file
    would diverge from it unseen, so it must refuse to start and say why, and the first
    must go on serving."""
    db = tmp_path / "one.db"
    first = Registry(db, tmp_path / "first.stderr.log").start()
    try:
        api = Api(first.url)
        assert api.register("a", _schema(1, 1)).status_code == 200
        p = subprocess.run([canon_bin(), "registry", "--listen", "127.0.0.1:0", "--db", str(db),
                            "--quiet"], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0, (p.returncode, p.stdout, p.stderr)
        assert "listening" not in p.stdout, p.stdout
        assert "in use by another process" in p.stderr and str(db) in p.stderr, p.stderr
        assert api.register("b", _schema(2, 1)).status_code == 200
        assert sorted(api.get("/subjects").json()) == ["a", "b"]
    finally:
        finish(first)
    again = Registry(db, tmp_path / "again.stderr.log").start()  # the lock goes with the process
    try:
        assert sorted(Api(again.url).get("/subjects").json()) == ["a", "b"]
    finally:
        finish(again)
