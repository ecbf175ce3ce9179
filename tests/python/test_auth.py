"""Access control of the registry (issue 7, item 1; docs/security.md), over real HTTP.

A `canon registry --auth-file FILE` is started with users (HTTP basic auth, passwords hashed
by `canon auth hash-password`) and an API key (bearer, made by `canon auth new-key`), one per
role: admin, owner of entity `person`, domain writer `crm` (restricted reads), reader `bi`
(reads `canon.*` only), and a key for domain `hr`. Each role is tried on each kind of
endpoint; lists must show only what the caller may read; a lookup counts as a read; 401 and
403 have Confluent's error format (40101, 40301) and say what is wrong without telling which
of user and password was; SIGHUP reloads the file while serving, and a bad file keeps the
old one; a non-loopback listen address is refused without --auth-file unless --insecure;
confluent-kafka's SchemaRegistryClient works with basic.auth.user.info.
"""
import base64
import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from helpers import V1, Registry, assert_error, canon_bin, field, q, record

PASSWORDS = {"admin": "admin-pw", "people": "people pw", "crm": "crm:pw", "bi": "bi-pw"}


def hash_password(pw):
    out = subprocess.run([canon_bin(), "auth", "hash-password", "--iterations", "1000"],
                         input=pw + "\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    stored = out.stdout.strip()
    assert stored.startswith("pbkdf2-sha256$1000$"), stored
    assert pw not in stored
    return stored


def new_key():
    out = subprocess.run([canon_bin(), "auth", "new-key", "--json"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    k = json.loads(out.stdout)
    assert k["key"].startswith("cgk_") and k["stored"].startswith("sha256$")
    assert k["key"] not in k["stored"]
    return k["key"], k["stored"]


def auth_doc(hashes, key_stored, extra_users=()):
    return {
        "users": [
            {"name": "admin", "password": hashes["admin"], "role": "admin"},
            {"name": "people", "password": hashes["people"], "role": "owner",
             "entities": ["person"]},
            {"name": "crm", "password": hashes["crm"], "role": "domain", "domain": "crm",
             "entities": ["person"], "write": ["crm.*"], "read": ["crm.*"]},
            {"name": "bi", "password": hashes["bi"], "role": "reader", "read": ["canon.*"]},
            *extra_users,
        ],
        "keys": [{"name": "hr-app", "key": key_stored, "role": "domain", "domain": "hr",
                  "entities": ["person"], "comment": "the HR translator"}],
    }


def person():
    return record("Person", [
        field("person_id", "string"),
        field("email", ["null", "string"], default=None, **{"canon.writers": ["crm"]}),
    ], namespace="org.canongate.canon", **{"canon.key": "person_id"})


def account():
    return record("Account", [field("account_id", "string")], namespace="org.canongate.canon",
                  **{"canon.key": "account_id"})


ORDERS = json.dumps(record("Order", [field("id", "string")]))
CONTACT = json.dumps(record("Contact", [field("id", "string")]))


class Client:
    """Requests as one principal (basic auth or bearer key, or none)."""

    def __init__(self, base, user=None, key=None):
        self.base = base
        self.s = requests.Session()
        self.s.headers.update({"Accept": V1, "Content-Type": V1})
        if user:
            self.s.auth = (user, PASSWORDS[user])
        if key:
            self.s.headers["Authorization"] = f"Bearer {key}"

    def req(self, method, path, body=None, **kw):
        data = json.dumps(body) if body is not None else None
        return self.s.request(method, self.base + path, data=data, timeout=30, **kw)

    def register(self, subject, schema):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self.req("POST", f"/subjects/{q(subject)}/versions", {"schema": text})

    def lookup(self, subject, schema):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self.req("POST", f"/subjects/{q(subject)}", {"schema": text})


def finish(reg):
    rc = reg.stop()
    assert not reg.sanitizer_reports(), reg.sanitizer_excerpt()
    assert rc == 0, reg.stderr_tail()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    hashes = {u: hash_password(pw) for u, pw in PASSWORDS.items()}
    key, stored = new_key()
    path = d / "auth.json"
    path.write_text(json.dumps(auth_doc(hashes, stored), indent=1))
    reg = Registry(d / "auth.db", d / "auth.stderr.log", ["--auth-file", path]).start()
    c = {name: Client(reg.url, user=name) for name in PASSWORDS}
    c["hr"] = Client(reg.url, key=key)
    c["anon"] = Client(reg.url)
    # What exists: person (owner), account and orders-value (admin), crm.contacts-value (crm).
    ids = {}
    r = c["people"].register("canon.person.entity", person())
    assert r.status_code == 200, r.text
    ids["person"] = r.json()["id"]
    r = c["admin"].register("canon.account.entity", account())
    assert r.status_code == 200, r.text
    ids["account"] = r.json()["id"]
    r = c["admin"].register("orders-value", ORDERS)
    assert r.status_code == 200, r.text
    ids["orders"] = r.json()["id"]
    r = c["crm"].register("crm.contacts-value", CONTACT)
    assert r.status_code == 200, r.text
    ids["contact"] = r.json()["id"]
    yield {"reg": reg, "c": c, "ids": ids, "hashes": hashes, "key": key, "stored": stored,
           "dir": d}
    finish(reg)


def log_text(reg, wait_for=None):
    deadline = time.monotonic() + 5
    while True:
        text = reg.stderr_tail(n=10**6)
        if wait_for is None or wait_for in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


# ---- 401 -----------------------------------------------------------------------------------


def test_no_credentials_is_401_with_challenges(setup):
    r = setup["c"]["anon"].req("GET", "/subjects")
    body = assert_error(r, 401, 40101, "Authentication required")
    challenges = r.raw.headers.getlist("WWW-Authenticate")
    assert 'Basic realm="canon"' in challenges, challenges
    assert any(c.startswith("Bearer") for c in challenges), challenges
    assert "error_code" in body


def test_health_and_root_stay_open_for_probes(setup):
    anon = setup["c"]["anon"]
    assert anon.req("GET", "/health").status_code == 200
    assert anon.req("GET", "/").status_code == 200
    assert_error(anon.req("GET", "/metrics"), 401, 40101)
    assert_error(anon.req("GET", "/schemas/ids/1"), 401, 40101)


def test_bad_password_and_unknown_user_look_the_same_but_are_logged_apart(setup):
    base = setup["reg"].url
    bad = requests.get(base + "/subjects", auth=("bi", "nope"), timeout=30)
    unknown = requests.get(base + "/subjects", auth=("nobody-here", "bi-pw"), timeout=30)
    b1 = assert_error(bad, 401, 40101)
    b2 = assert_error(unknown, 401, 40101)
    assert b1["message"] == b2["message"] == "Invalid user name or password"
    log = log_text(setup["reg"], "unknown user (user 'nobody-here')")
    assert "bad password (user 'bi')" in log
    assert "unknown user (user 'nobody-here')" in log
    assert "nope" not in log and "bi-pw" not in log  # passwords never logged


def test_a_wrong_password_costs_what_an_unknown_user_costs(tmp_path):
    """An unknown user is checked at the file's highest PBKDF2 iteration count; a wrong
    password for a user of fewer iterations is padded to it, or its quick refusal (1 ms
    against about 100 ms here) would tell that the name exists. Medians of five: the
    two differ by the 300x of the iteration counts without the padding."""
    import statistics
    out = subprocess.run([canon_bin(), "auth", "hash-password", "--iterations", "300000"],
                         input="slow-pw\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = {"users": [{"name": "fast", "password": hash_password("fast-pw"), "role": "admin"},
                     {"name": "slow", "password": out.stdout.strip(), "role": "admin"}]}
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(doc))
    reg = Registry(tmp_path / "t.db", tmp_path / "t.log", ["--auth-file", path]).start()
    try:
        def median(user, pw):
            times = []
            for _ in range(5):
                t0 = time.monotonic()
                r = requests.get(reg.url + "/subjects", auth=(user, pw), timeout=30)
                times.append(time.monotonic() - t0)
                assert r.status_code == 401, r.text
            return statistics.median(times)
        unknown = median("ghost", "x")
        wrong = median("fast", "x")
        assert wrong > 0.4 * unknown, f"wrong password {wrong * 1000:.1f} ms, unknown user {unknown * 1000:.1f} ms"
        assert requests.get(reg.url + "/subjects", auth=("fast", "fast-pw"), timeout=30).status_code == 200
    finally:
        finish(reg)


def test_user_names_and_subjects_cannot_forge_log_lines(setup):
    """What a client chose (a Basic user name, a subject in a path) is logged with its
    control bytes, and anything not printable ASCII, escaped as \\xNN: a newline in it
    cannot start a line of its own, nor ESC reach a terminal."""
    base, bi = setup["reg"].url, setup["c"]["bi"]
    forged = "2000-01-01 forged-by-user GET /subjects 200"  # no ':', which ends the user
    cred = base64.b64encode(f"mallory\n{forged}\x1b[2J\\:pw".encode()).decode()
    r = requests.get(base + "/subjects", headers={"Authorization": f"Basic {cred}"}, timeout=30)
    assert_error(r, 401, 40101)
    assert_error(bi.req("GET", "/subjects/x%0Aforged-by-subject%1B/versions"), 403, 40301)
    # a raw ESC in the request line reaches the access log's path (no client sends one)
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        auth = base64.b64encode(b"bi:" + PASSWORDS["bi"].encode())
        sock.sendall(b"GET /subjects/raw\x1b[2Jesc/versions HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Basic " + auth + b"\r\nConnection: close\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 403")
    access = '"GET /subjects/raw\\x1b[2Jesc/versions" 403'
    log = log_text(setup["reg"], access)  # the access log is flushed every 100 ms
    assert access in log, log[-2000:]
    assert f"unknown user (user 'mallory\\x0a{forged}\\x1b[2J\\x5c')" in log, log[-2000:]
    assert "'x\\x0aforged-by-subject\\x1b'" in log, log[-2000:]
    for line in log.splitlines():
        assert not line.startswith(("2000-01-01", "forged-by")), line
    assert "\x1b" not in log


def test_bad_key_and_bad_scheme_are_401(setup):
    base = setup["reg"].url
    r = requests.get(base + "/subjects", headers={"Authorization": "Bearer cgk_wrong"}, timeout=30)
    assert_error(r, 401, 40101, "Invalid API key")
    # the stored form is not the key
    r = requests.get(base + "/subjects",
                     headers={"Authorization": "Bearer " + setup["stored"]}, timeout=30)
    assert_error(r, 401, 40101, "Invalid API key")
    r = requests.get(base + "/subjects", headers={"Authorization": "Digest abc"}, timeout=30)
    assert_error(r, 401, 40101, "Malformed Authorization header")


# ---- roles per endpoint -------------------------------------------------------------------


def test_admin_may_do_everything(setup):
    admin = setup["c"]["admin"]
    assert admin.register("adm-tmp-value", ORDERS).status_code == 200
    assert admin.req("PUT", "/config/adm-tmp-value", {"compatibility": "NONE"}).status_code == 200
    assert admin.req("GET", "/config/adm-tmp-value").json()["compatibilityLevel"] == "NONE"
    assert admin.req("PUT", "/mode/adm-tmp-value", {"mode": "READWRITE"}).status_code == 200
    assert admin.req("DELETE", "/config/adm-tmp-value").status_code == 200
    assert admin.req("DELETE", "/subjects/adm-tmp-value").status_code == 200
    assert admin.req("DELETE", "/subjects/adm-tmp-value",
                     params={"permanent": "true"}).status_code == 200
    assert admin.req("GET", "/config").status_code == 200


def test_owner_writes_its_entity_only(setup):
    people = setup["c"]["people"]
    # re-registering its canonical schema (and through canon.person-value) is allowed
    assert people.register("canon.person.entity", person()).status_code == 200
    assert people.register("canon.person-value", person()).status_code == 200
    body = assert_error(people.register("canon.account.entity", account()), 403, 40301)
    assert "people" in body["message"] and "'canon.account.entity'" in body["message"]
    assert "write" in body["message"]
    assert_error(people.register("orders-value", ORDERS), 403, 40301, "'orders-value'")
    # deletes and settings are the admin's
    assert_error(people.req("DELETE", "/subjects/canon.person.entity"), 403, 40301, "admin")
    assert_error(people.req("DELETE", "/subjects/canon.person.entity/versions/1"), 403, 40301,
                 "admin")
    assert_error(people.req("PUT", "/config/canon.person.entity", {"compatibility": "NONE"}),
                 403, 40301, "admin")
    assert_error(people.req("PUT", "/mode", {"mode": "READONLY"}), 403, 40301, "/mode")
    assert_error(people.req("PUT", "/config", {"compatibility": "NONE"}), 403, 40301, "/config")
    # reads: no "read" given means every subject
    assert people.req("GET", "/subjects/orders-value/versions").status_code == 200
    assert people.req("GET", "/config").status_code == 200
    # nothing was changed by the refused requests
    assert setup["c"]["admin"].req("GET", "/subjects/canon.person.entity/versions").json() == [1]


def test_domain_writer_writes_its_patterns_and_its_entitys_updates(setup):
    crm = setup["c"]["crm"]
    assert crm.register("crm.leads-value", CONTACT).status_code == 200
    assert_error(crm.register("canon.person.entity", person()), 403, 40301,
                 "'canon.person.entity'")
    assert_error(crm.register("hr.staff-value", CONTACT), 403, 40301, "write")
    # its entity's derived update schema: lookup (a read), and the idempotent
    # re-registration an auto-registering serializer does
    upd = setup["c"]["admin"].req("GET", "/subjects/canon.person.updates-value/versions/latest")
    assert upd.status_code == 200
    schema = upd.json()["schema"]
    r = crm.lookup("canon.person.updates-value", schema)
    assert r.status_code == 200, r.text
    r = crm.register("canon.person.updates-value", schema)
    assert r.status_code == 200 and r.json()["id"] == upd.json()["id"], r.text
    # another entity's update subject is neither readable nor writable for it
    acc = setup["c"]["admin"].req("GET", "/subjects/canon.account.updates-value/versions/latest")
    assert_error(crm.lookup("canon.account.updates-value", acc.json()["schema"]), 403, 40301,
                 "read")
    assert_error(crm.register("canon.account.updates-value", acc.json()["schema"]), 403, 40301)


def test_bearer_key_is_a_domain_writer_too(setup):
    hr = setup["c"]["hr"]
    assert hr.req("GET", "/subjects/canon.person.entity/versions").status_code == 200
    body = assert_error(hr.register("crm.contacts-value", CONTACT), 403, 40301)
    assert "key 'hr-app'" in body["message"] and "(role domain)" in body["message"]


def test_reader_reads_its_patterns_only_and_never_writes(setup):
    bi = setup["c"]["bi"]
    assert bi.req("GET", "/subjects/canon.person.entity/versions").status_code == 200
    assert bi.req("GET", "/subjects/canon.person.entity/versions/latest/schema").status_code == 200
    assert bi.req("GET", "/config/canon.person.entity").status_code == 200
    assert bi.req("GET", "/canon/entities/person").status_code == 200
    body = assert_error(bi.req("GET", "/subjects/orders-value/versions"), 403, 40301)
    assert "'orders-value'" in body["message"] and "read" in body["message"]
    assert_error(bi.req("GET", "/subjects/orders-value/versions/1"), 403, 40301)
    assert_error(bi.req("GET", "/config/orders-value"), 403, 40301)
    assert_error(bi.register("canon.person.entity", person()), 403, 40301, "write")
    assert_error(bi.register("bi-own-value", ORDERS), 403, 40301, "write")
    assert_error(bi.req("DELETE", "/subjects/canon.person.entity"), 403, 40301)


def test_lookup_and_compatibility_checks_count_as_reads(setup):
    bi = setup["c"]["bi"]
    r = bi.lookup("canon.person.entity", person())
    assert r.status_code == 200 and r.json()["id"] == setup["ids"]["person"], r.text
    assert_error(bi.lookup("orders-value", ORDERS), 403, 40301, "read")
    r = bi.req("POST", "/compatibility/subjects/canon.person.entity/versions/latest",
               {"schema": json.dumps(person())})
    assert r.status_code == 200 and r.json()["is_compatible"] is True, r.text
    assert_error(bi.req("POST", "/compatibility/subjects/orders-value/versions/latest",
                        {"schema": ORDERS}), 403, 40301)


def test_schema_ids_readable_through_a_readable_subject_only(setup):
    bi, ids = setup["c"]["bi"], setup["ids"]
    r = bi.req("GET", f"/schemas/ids/{ids['person']}")
    assert r.status_code == 200 and "canon.key" in r.json()["schema"]
    assert bi.req("GET", f"/schemas/ids/{ids['person']}/schema").status_code == 200
    assert_error(bi.req("GET", f"/schemas/ids/{ids['orders']}"), 403, 40301,
                 f"schema {ids['orders']}")
    assert_error(bi.req("GET", f"/schemas/ids/{ids['orders']}/versions"), 403, 40301)
    # an unknown id is still the usual 404
    assert_error(bi.req("GET", "/schemas/ids/99999"), 404, 40403)


def test_bindings_need_read_on_every_referenced_subject(setup):
    """GET /canon/bindings puts the referenced schemas' text in the archive: a caller
    who may read the subject but not a subject it references (directly or through
    another reference) is refused, naming that subject, as a read of it would be."""
    admin, bi = setup["c"]["admin"], setup["c"]["bi"]
    ns = "com.example.authrefs"

    def reg(subject, name, fields, refs=()):
        body = {"schema": json.dumps(record(name, fields, namespace=ns)),
                "references": [{"name": f"{ns}.{n}", "subject": s, "version": 1}
                               for n, s in refs]}
        r = admin.req("POST", f"/subjects/{q(subject)}/versions", body)
        assert r.status_code == 200, r.text

    def bindings(who, subject):
        return setup["c"][who].req("GET", "/canon/bindings/c", params={"subject": subject},
                                   headers={"Accept": "application/gzip"})

    reg("refs.secret-value", "Secret", [field("pin", "string")])  # not canon.*: bi can't read
    reg("canon.refs.addr", "Addr", [field("city", "string")])
    reg("canon.refs.user", "User", [field("home", f"{ns}.Secret")],
        [("Secret", "refs.secret-value")])
    reg("canon.refs.outer", "Outer", [field("user", f"{ns}.User")],
        [("User", "canon.refs.user")])
    reg("canon.refs.visible", "Visible", [field("addr", f"{ns}.Addr")],
        [("Addr", "canon.refs.addr")])
    assert_error(bi.req("GET", "/subjects/refs.secret-value/versions/1"), 403, 40301)
    for subject in ("canon.refs.user", "canon.refs.outer"):
        r = bindings("bi", subject)
        body = assert_error(r, 403, 40301, "'refs.secret-value'")
        assert "read" in body["message"] and "pin" not in r.text, body
    # readable references, or a caller who reads everything: the archive
    for who, subject in (("bi", "canon.refs.visible"), ("admin", "canon.refs.outer")):
        r = bindings(who, subject)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/gzip", r.text
    # the refusal is a security event like any other 403
    text = log_text(setup["reg"], wait_for="auth: 403 GET /canon/bindings/c")
    assert any("auth: 403 GET /canon/bindings/c" in line and "'refs.secret-value'" in line
               for line in text.splitlines()), text[-2000:]


def test_references_need_read_on_the_referenced_subjects(setup):
    """Registering, looking up or testing a schema parses its references' text on the
    caller's behalf, and the answer tells whether they exist: a caller may reference only
    subjects it may read. The refusal comes before any lookup, so an unreadable subject
    that exists and one that does not are refused alike."""
    crm = setup["c"]["crm"]
    uses = json.dumps(record("Lead", [field("c", "Contact")]))

    def body(subject):
        return {"schema": uses, "references": [{"name": "Contact", "subject": subject,
                                                "version": 1}]}

    calls = (("POST", "/subjects/crm.leads2-value/versions"),
             ("POST", "/subjects/crm.contacts-value"),
             ("POST", "/compatibility/subjects/crm.contacts-value/versions/latest"))
    for unreadable in ("orders-value", "hidden.nothing-value"):
        for method, path in calls:
            b = assert_error(crm.req(method, path, body(unreadable)), 403, 40301,
                             f"reference subject '{unreadable}'")
            assert "user 'crm'" in b["message"] and "read" in b["message"], b
    text = log_text(setup["reg"], wait_for="reference subject 'hidden.nothing-value'")
    assert any("auth: 403 POST /subjects/crm.leads2-value/versions" in line
               and "'orders-value'" in line for line in text.splitlines()), text[-2000:]
    # a readable reference registers; one who reads everything is not asked
    r = crm.req("POST", "/subjects/crm.leads2-value/versions", body("crm.contacts-value"))
    assert r.status_code == 200, r.text
    r = setup["c"]["admin"].req("POST", "/subjects/orders.leads-value/versions",
                                body("crm.contacts-value"))
    assert r.status_code == 200, r.text
    # a body that is not JSON still gets its usual error, not a 403
    r = crm.s.post(setup["reg"].url + "/subjects/crm.leads3-value/versions", data="{nope",
                   timeout=30)
    assert r.status_code in (400, 422) and r.json()["error_code"] != 40301, r.text


# ---- list filtering -----------------------------------------------------------------------

PERSON_SUBJECTS = {"canon.person.entity", "canon.person.updates-value", "canon.person-value"}


def crm_reads(subject):
    """What the crm domain writer may read: its patterns and its entity's subjects."""
    return subject.startswith("crm.") or subject in PERSON_SUBJECTS


def test_subject_list_shows_only_readable_subjects(setup):
    c = setup["c"]
    everything = c["admin"].req("GET", "/subjects").json()
    assert {"orders-value", "crm.contacts-value", "canon.person.entity",
            "canon.account.entity"} <= set(everything)
    bi = c["bi"].req("GET", "/subjects").json()
    assert bi == sorted(s for s in everything if s.startswith("canon.")), bi
    crm = c["crm"].req("GET", "/subjects").json()
    want = sorted(s for s in everything if crm_reads(s))
    assert crm == want, crm
    # pagination applies to the filtered list
    page = c["bi"].req("GET", "/subjects", params={"offset": 1, "limit": 2}).json()
    assert page == bi[1:3]
    # the owner reads everything (no "read" given)
    assert c["people"].req("GET", "/subjects").json() == everything


def test_schema_lists_show_only_readable_subjects(setup):
    c, ids = setup["c"], setup["ids"]
    for who, ok in (("bi", lambda s: s.startswith("canon.")),
                    ("crm", crm_reads)):
        got = c[who].req("GET", "/schemas").json()
        assert got and all(ok(e["subject"]) for e in got), (who, got)
        all_ = [e for e in c["admin"].req("GET", "/schemas").json() if ok(e["subject"])]
        assert [(e["subject"], e["version"]) for e in got] == \
            [(e["subject"], e["version"]) for e in all_]
    # one schema under a readable and an unreadable subject: the list shows the readable one
    assert c["admin"].register("canon-copy-for-bi", ORDERS).status_code == 200  # not canon.*
    assert c["admin"].register("canon.shared.orders", ORDERS).status_code == 200
    vs = c["bi"].req("GET", f"/schemas/ids/{ids['orders']}/versions").json()
    assert vs == [{"subject": "canon.shared.orders", "version": 1}], vs
    subs = c["bi"].req("GET", f"/schemas/ids/{ids['orders']}/subjects").json()
    assert subs == ["canon.shared.orders"], subs
    assert set(c["admin"].req("GET", f"/schemas/ids/{ids['orders']}/subjects").json()) == \
        {"orders-value", "canon-copy-for-bi", "canon.shared.orders"}


def test_contexts_show_only_contexts_of_readable_subjects(setup):
    c = setup["c"]
    assert c["admin"].register(":.ctxa:orders-value", ORDERS).status_code == 200
    assert c["admin"].req("GET", "/contexts").json() == [".", ".ctxa"]
    assert c["bi"].req("GET", "/contexts").json() == ["."]


def test_entity_list_shows_only_readable_entities(setup):
    c = setup["c"]
    names = lambda who: [e["entity"] for e in c[who].req("GET", "/canon/entities").json()]
    assert names("admin") == ["account", "person"]
    assert names("bi") == ["account", "person"]
    assert names("crm") == ["person"]
    assert_error(c["crm"].req("GET", "/canon/entities/account"), 403, 40301,
                 "canon.account.entity")


# ---- existing clients ---------------------------------------------------------------------


def test_confluent_client_with_basic_auth(setup):
    url = setup["reg"].url
    crm = SchemaRegistryClient({"url": url, "basic.auth.user.info": "crm:" + PASSWORDS["crm"]})
    sid = crm.register_schema("crm.client-value", Schema(CONTACT, "AVRO"))
    assert crm.get_schema(sid).schema_str == CONTACT
    assert crm.get_latest_version("crm.client-value").schema_id == sid
    assert "crm.client-value" in crm.get_subjects()
    assert "orders-value" not in crm.get_subjects()
    with pytest.raises(SchemaRegistryError) as e:
        crm.register_schema("orders-value", Schema(ORDERS, "AVRO"))
    assert e.value.http_status_code == 403 and e.value.error_code == 40301
    wrong = SchemaRegistryClient({"url": url, "basic.auth.user.info": "crm:wrong"})
    with pytest.raises(SchemaRegistryError) as e:
        wrong.get_subjects()
    assert e.value.http_status_code == 401 and e.value.error_code == 40101


# ---- SIGHUP reload ------------------------------------------------------------------------


def wait_status(url, auth, want, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        st = requests.get(url + "/subjects", auth=auth, timeout=30).status_code
        if st == want or time.monotonic() > deadline:
            return st
        time.sleep(0.1)


def test_sighup_reload_adds_and_removes_users_and_bad_file_keeps_the_old(setup, tmp_path):
    hashes = setup["hashes"]
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(auth_doc(hashes, setup["stored"])))
    reg = Registry(tmp_path / "r.db", tmp_path / "r.stderr.log", ["--auth-file", path]).start()
    try:
        late = ("late", "late-pw")
        assert requests.get(reg.url + "/subjects", auth=late, timeout=30).status_code == 401
        extra = {"name": "late", "password": hash_password("late-pw"), "role": "reader"}
        path.write_text(json.dumps(auth_doc(hashes, setup["stored"], [extra])))
        reg.proc.send_signal(signal.SIGHUP)
        assert wait_status(reg.url, late, 200) == 200
        assert "auth file reloaded" in log_text(reg, "auth file reloaded")

        # a bad file: the old one stays in force, the error names the entry and field
        bad = auth_doc(hashes, setup["stored"], [dict(extra, role="superuser")])
        path.write_text(json.dumps(bad))
        reg.proc.send_signal(signal.SIGHUP)
        log = log_text(reg, "superuser")
        assert "users[4] 'late'" in log and "'role'" in log and "stays in force" in log, log
        assert requests.get(reg.url + "/subjects", auth=late, timeout=30).status_code == 200
        path.write_text("{ not json")
        reg.proc.send_signal(signal.SIGHUP)
        assert "line 1" in log_text(reg, "line 1")
        assert requests.get(reg.url + "/subjects", auth=late, timeout=30).status_code == 200

        # removed again: refused after the reload
        path.write_text(json.dumps(auth_doc(hashes, setup["stored"])))
        reg.proc.send_signal(signal.SIGHUP)
        assert wait_status(reg.url, late, 401) == 401
        admin = ("admin", PASSWORDS["admin"])
        assert requests.get(reg.url + "/subjects", auth=admin, timeout=30).status_code == 200
    finally:
        finish(reg)


def test_reloads_while_requests_run_lose_none(setup, tmp_path):
    """Requests in flight keep the configuration they started with: 20 reloads under three
    clients, every answer 200, and (in the ASan build) no report."""
    import threading

    path = tmp_path / "auth.json"
    path.write_text(json.dumps(auth_doc(setup["hashes"], setup["stored"])))
    reg = Registry(tmp_path / "r.db", tmp_path / "r.stderr.log", ["--auth-file", path]).start()
    statuses, stop = [], threading.Event()

    def client():
        s = requests.Session()
        s.auth = ("admin", PASSWORDS["admin"])
        end = time.monotonic() + 20  # bounded even if the main thread fails
        while not stop.is_set() and time.monotonic() < end:
            statuses.append(s.get(reg.url + "/subjects", timeout=30).status_code)

    threads = [threading.Thread(target=client) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for i in range(1, 21):
            reg.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10  # one at a time: pending signals merge
            while reg.stderr_tail(n=10**6).count("auth file reloaded") < i:
                assert time.monotonic() < deadline, reg.stderr_tail()
                time.sleep(0.01)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
        finish(reg)
    assert statuses and set(statuses) == {200}, set(statuses)
    assert reg.stderr_tail(n=10**6).count("auth file reloaded") == 20


# ---- start-up rules -----------------------------------------------------------------------


def run_canon(args, timeout=30):
    return subprocess.run([canon_bin(), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("cmd", ["registry", "serve"])
def test_non_loopback_refused_without_auth_file(cmd, tmp_path):
    # refused before anything binds, so 0.0.0.0 is never listened on here
    out = run_canon([cmd, "--listen", "0.0.0.0:0", "--db", str(tmp_path / "x.db")])
    assert out.returncode == 2, out
    assert "--auth-file" in out.stderr and "--insecure" in out.stderr, out.stderr
    assert not (tmp_path / "x.db").exists()


def start_on(tmp_path, name, args):
    """Starts `canon registry` with args; returns the process once its ready line is out."""
    p = subprocess.Popen([canon_bin(), "registry", "--db", str(tmp_path / f"{name}.db"), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return p, line


def stop(p):
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "runtime error" not in err and "AddressSanitizer" not in err, err


def test_insecure_or_auth_file_allow_another_address(setup, tmp_path):
    # 127.0.0.2 is loopback too, but not on the short list: it stands for "another address"
    out = run_canon(["registry", "--listen", "127.0.0.2:0", "--db", str(tmp_path / "a.db")])
    assert out.returncode == 2 and "--insecure" in out.stderr
    p, line = start_on(tmp_path, "b", ["--listen", "127.0.0.2:0", "--insecure"])
    assert "listening on http://127.0.0.2:" in line, line
    stop(p)
    p, line = start_on(tmp_path, "c", ["--listen", "127.0.0.2:0", "--auth-file",
                                       str(setup["dir"] / "auth.json")])
    assert "listening on http://127.0.0.2:" in line, line
    stop(p)


def test_bad_or_missing_auth_file_stops_the_start(tmp_path):
    out = run_canon(["registry", "--listen", "127.0.0.1:0", "--db", str(tmp_path / "x.db"),
                     "--auth-file", str(tmp_path / "missing.json")])
    assert out.returncode == 1 and "missing.json" in out.stderr, out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"users": [{"name": "x", "password": "plain", "role": "admin"}]}))
    out = run_canon(["registry", "--listen", "127.0.0.1:0", "--db", str(tmp_path / "x.db"),
                     "--auth-file", str(bad)])
    assert out.returncode == 1, out
    assert "users[0] 'x'" in out.stderr and "'password'" in out.stderr, out.stderr
    out = run_canon(["auth", "check", str(bad)])
    assert out.returncode == 1 and "users[0] 'x'" in out.stderr


def test_auth_cli_help_and_hash_checks(tmp_path):
    for args in (["auth", "--help"], ["auth", "hash-password", "--help"],
                 ["auth", "new-key", "--help"]):
        out = run_canon(args)
        assert out.returncode == 0 and "hash-password" in out.stdout, out
    out = run_canon(["auth", "hash-password", "--iterations", "10"])
    assert out.returncode == 2 and "--iterations" in out.stderr
    out = subprocess.run([canon_bin(), "auth", "hash-password"], input="", capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1 and "no password" in out.stderr
    for cmd in ("registry", "serve"):
        out = run_canon([cmd, "--help"])
        assert "--auth-file" in out.stdout and "--insecure" in out.stdout, out.stdout
    a, b = new_key(), new_key()
    assert a[0] != b[0] and a[1] != b[1]


# ---- the aggregator of `canon serve`: domain writers -------------------------------------


def test_serve_dead_letters_updates_from_unlisted_sources(setup, tmp_path):
    """`canon serve --auth-file` on its in-process Kafka cluster: the aggregator reads the
    registry with its own key (auth is on), merges an update from `crm` (a domain writer
    listed for the entity) and dead-letters one from `hr` (allowed by canon.writers, but not
    listed for this entity in the auth file) with code UNLISTED_SOURCE."""
    import io
    import re
    import struct
    import uuid

    import fastavro
    from confluent_kafka import Consumer, Producer

    entity = "p" + uuid.uuid4().hex[:8]
    doc = auth_doc(setup["hashes"], setup["stored"])
    doc["users"][2]["entities"] = [entity]  # crm writes this entity
    doc["keys"][0]["entities"] = ["person"]  # hr does not
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(doc))
    log = open(tmp_path / "serve.log", "w")
    p = subprocess.Popen([canon_bin(), "serve", "--listen", "127.0.0.1:0", "--db",
                          str(tmp_path / "s.db"), "--quiet", "--no-transactions",
                          "--auth-file", str(path)],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        url = re.search(r"listening on (http://\S+)", p.stdout.readline()).group(1)
        line = p.stdout.readline()
        boot = re.search(r"at (127\.0\.0\.1:\d+)", line).group(1)
        admin = Client(url, user="admin")
        # a reload before the entity exists: the aggregator's own key must survive it, or
        # it could not read the entity registered below
        p.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "auth file reloaded" not in open(tmp_path / "serve.log").read():
            assert time.monotonic() < deadline, open(tmp_path / "serve.log").read()
            time.sleep(0.1)
        schema = json.loads(open(os.path.join(os.path.dirname(__file__), "..", "..", "schemas",
                                              "person.avsc")).read())
        r = admin.register(f"canon.{entity}.entity", schema)
        assert r.status_code == 200, r.text
        upd = admin.req("GET", f"/subjects/canon.{entity}.updates-value/versions/latest").json()
        parsed = fastavro.parse_schema(json.loads(upd["schema"]))
        names = [f["name"] for f in json.loads(upd["schema"])["fields"][6]["type"]["fields"]]

        def encode(key, source, values):
            rec = {"person_id": key, "source": source, "event_time": 1000, "seq": 0,
                   "op": "UPSERT", "provided": list(values),
                   "values": {n: values.get(n) for n in names}}
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, rec)
            return b"\x00" + struct.pack(">I", upd["id"]) + buf.getvalue()

        k = str(uuid.uuid4())
        prod = Producer({"bootstrap.servers": boot, "partitioner": "murmur2_random"})
        # The aggregator picks the new entity up within seconds; until its topic exists,
        # producing may fail, so retry for a bounded time.
        deadline = time.monotonic() + 60
        for source, values in (("crm", {"email": "a@x"}), ("hr", {"given_name": "Ann"})):
            while True:
                errs = []
                prod.produce(f"canon.{entity}.updates", key=k.encode(),
                             value=encode(k, source, values),
                             on_delivery=lambda e, m: errs.append(e))
                prod.flush(10)
                if errs == [None] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert errs == [None], errs

        def read(topic, want):
            c = Consumer({"bootstrap.servers": boot, "group.id": "t-" + uuid.uuid4().hex,
                          "auto.offset.reset": "earliest", "enable.auto.commit": False})
            c.subscribe([topic])
            out, end = [], time.monotonic() + 60
            try:
                while len(out) < want and time.monotonic() < end:
                    m = c.poll(0.2)
                    if m is not None and not m.error():
                        out.append(m)
            finally:
                c.close()
            return out

        dlq = read(f"canon.{entity}.dlq", 1)
        assert len(dlq) == 1, open(tmp_path / "serve.log").read()[-3000:]
        headers = {h: v.decode() for h, v in dlq[0].headers()}
        assert headers["canon.error.code"] == "UNLISTED_SOURCE", headers
        assert "'hr'" in headers["canon.error.message"]
        assert dlq[0].value() == encode(k, "hr", {"given_name": "Ann"})  # byte for byte
        canon = read(f"canon.{entity}", 1)
        assert len(canon) == 1
        env = fastavro.schemaless_reader(
            io.BytesIO(canon[0].value()[5:]),
            fastavro.parse_schema(json.loads(admin.req(
                "GET", f"/schemas/ids/{struct.unpack('>I', canon[0].value()[1:5])[0]}").json()
                ["schema"])))
        assert env["after"]["email"] == "a@x" and env["after"]["given_name"] is None, env
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0
        log.close()
    text = open(tmp_path / "serve.log").read()
    assert "Sanitizer" not in text and "runtime error" not in text, text[-3000:]
