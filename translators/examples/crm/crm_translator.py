"""crm_translator.py - the CRM domain's translator: CRM contact events -> canonical person updates.

CRM is a Python shop. Its translator is a small app on the Python binding that `canon gen
--lang python` generates from the registry (docs/bindings-python.md): the binding gives
the update builder (set/clear per field, typed), and the producer helper (key = the
universal identifier, murmur2 partitioner, value framed with the registered update
schema's id). Nothing here knows Avro, framing or partitioning; it only knows CRM.

CRM's own format (events.jsonl): contact_id (CRM's internal id, never leaves CRM),
email_address (any case), full_name ("Ada King"), mobile, updated_at (ISO-8601).
A key that is present sets the field, `"mobile": null` clears the phone, a key that is
absent leaves the field alone.

The universal identifier is derived exactly as the declarative translator derives it
(docs/translators.md, "UUID derivation"): uuid5(uuid5(NAMESPACE_URL, "canongate:person"),
lower(trim(email))). The HR mapping and the Support app do the same, so one person gets
one key whichever domain saw them (tests/examples checks that they agree).

    python crm_translator.py --bootstrap-servers B --registry URL [--events FILE]
    python crm_translator.py --print-ids < emails.txt      # the id of each e-mail
"""
import argparse
import datetime
import json
import sys
import uuid
from pathlib import Path

SOURCE = "crm"
PERSON_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "canongate:person")


ASCII_SPACE = " \t\n\r\f\v"
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_email(email):
    """The mapping's ["trim", "lower"]: ASCII white space and ASCII letters only, exactly
    as `canon translate` does it (str.lower() would also fold "É", and the ids would differ)."""
    return email.strip(ASCII_SPACE).translate(ASCII_LOWER)


def person_id(email):
    """The universal identifier of the person with this e-mail address."""
    return uuid.uuid5(PERSON_NAMESPACE, normalise_email(email))


def split_name(full_name):
    """CRM keeps one name field; the canon has two. "Ada King" -> ("Ada", "King")."""
    parts = full_name.split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (full_name.strip(), None)


def to_update(event, seq):
    """One CRM event -> one PersonUpdate (a builder of the generated binding)."""
    from org.canongate.canon.person import PersonUpdateBuilder

    when = datetime.datetime.fromisoformat(event["updated_at"].replace("Z", "+00:00"))
    b = PersonUpdateBuilder(person_id(event["email_address"]), source=SOURCE,
                            event_time=when.astimezone(datetime.timezone.utc), seq=seq)
    b.set_email(normalise_email(event["email_address"]))
    if "full_name" in event:
        given, family = split_name(event["full_name"])
        b.set_given_name(given)
        if family is None:
            b.clear_family_name()
        else:
            b.set_family_name(family)
    if "mobile" in event:
        if event["mobile"] is None:
            b.clear_phone()
        else:
            b.set_phone(event["mobile"].strip())
    return b.build()


def describe(update):
    """One line a person can read: what this update says."""
    vals = {f: getattr(update.values, f) for f in update.provided}
    when = update.event_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"crm -> {update.person_id} at {when} seq {update.seq}: "
            + json.dumps(vals, default=str, ensure_ascii=False))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap-servers")
    ap.add_argument("--registry", help="schema registry URL (the update schema's id is looked up there)")
    ap.add_argument("--events", default=str(Path(__file__).with_name("events.jsonl")))
    ap.add_argument("--print-ids", action="store_true",
                    help="read e-mail addresses on stdin, print each one's person_id")
    args = ap.parse_args(argv)

    if args.print_ids:
        for line in sys.stdin:
            if line.strip():
                print(person_id(line.rstrip("\n")))  # the line minus its end: spaces count
        return 0
    if not args.bootstrap_servers or not args.registry:
        ap.error("--bootstrap-servers and --registry are required")

    from org.canongate.canon.person import PersonProducer

    events = [json.loads(l) for l in Path(args.events).read_text().splitlines() if l.strip()]
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(f"{msg.key()!r}: {err}")

    with PersonProducer({"bootstrap.servers": args.bootstrap_servers},
                        registry_url=args.registry) as producer:
        for seq, event in enumerate(events):
            update = to_update(event, seq)
            producer.send(update, on_delivery=delivered)
            print(describe(update))
        left = producer.flush()
    if failed or left:
        print(f"crm: {len(failed)} updates failed, {left} undelivered: {failed[:3]}",
              file=sys.stderr)
        return 1
    print(f"crm: {len(events)} updates delivered to canon.person.updates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
