"""explain.py - tell the story of one canonical key from the topics themselves.

Reads what `canon tail --plain` prints for the updates topic and for the canon topic
(one JSON record a line) and, for one key, prints for a person to read:

  1. every update the domains sent, in arrival order, and what the aggregator did with it:
     the canon version it caused (the envelope's `cause` names the update's partition and
     offset) and the fields it changed, or why it changed nothing: each provided field
     whose version (event_time, source, seq) is not newer than the version the state held
     just before (the provenance of the previous canon version) is stale;
  2. fields that several domains wrote (conflicting writes), and which write holds;
  3. the current state with its provenance: which domain set which field, when, and in
     which update message (its partition and offset).

Nothing here merges anything: verdicts come from the canon topic (cause, changed,
provenance), which only the aggregator writes. The stale explanation compares versions
the way the merge does (docs/aggregator.md, "Merge rules").

    python explain.py --updates updates.jsonl --canon canon.jsonl --key UUID [--name Ada]
"""
import argparse
import datetime
import json
import sys


def iso(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def version(v):
    return (v["event_time"], v["source"], v["seq"])


def show(value):
    if value is None:
        return "(cleared)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def load(path, key):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r.get("key") == key and r.get("value") is not None:
                    out.append(r)
    return out


def date_text(field, value):
    """birth_date is days since the epoch on the wire; show it as a date."""
    if field == "birth_date" and isinstance(value, int):
        return (datetime.date(1970, 1, 1) + datetime.timedelta(days=value)).isoformat()
    return value


def explain(updates, canon, out=sys.stdout):
    by_cause = {}
    for r in canon:
        c = r["value"]["cause"]
        by_cause[(c["partition"], c["offset"])] = r["value"]
    envs = sorted((r["value"] for r in canon), key=lambda e: e["version"])
    p = print

    def state_before(upd):
        """The envelope the state was at when this update arrived."""
        best = None
        for e in envs:
            c = e["cause"]
            if c["partition"] == upd["partition"] and c["offset"] < upd["offset"]:
                best = e
        return best

    p("What the domains sent, in arrival order, and what the aggregator did with it:", file=out)
    stale_total = 0
    for u in updates:
        v = u["value"]
        head = (f"  [{u['partition']}:{u['offset']}] {v['source']:<8} event {iso(v['event_time'])}"
                f" seq {v['seq']}")
        if v["op"] == "DELETE":
            p(f"{head}  DELETE", file=out)
        else:
            sent = ", ".join(f"{f}={show(date_text(f, v['values'].get(f)))}" for f in v["provided"])
            p(f"{head}  {sent}", file=out)
        env = by_cause.get((u["partition"], u["offset"]))
        before = state_before(u)
        if env is not None:
            p(f"      -> canon version {env['version']} ({env['op']}), changed: "
              f"{', '.join(env['changed']) or '-'}", file=out)
        else:
            p("      -> nothing published: this update changed nothing", file=out)
        changed = set(env["changed"]) if env else set()
        prov = (before or {}).get("provenance") or {}
        mine = version(v)
        gone = (before or {}).get("deleted")
        if env is None and gone and mine <= version(gone):
            stale_total += 1
            p(f"         older than {gone['source']}'s DELETE of {iso(gone['event_time'])}: "
              "a delete is not undone by older news", file=out)
            continue
        for f in v["provided"]:
            if f in changed or f not in prov:
                continue
            held = prov[f]
            if mine <= version(held):
                stale_total += 1
                p(f"         {f}: STALE, ignored: {v['source']}'s value is from {iso(v['event_time'])}, "
                  f"the canon already holds {held['source']}'s from {iso(held['event_time'])}",
                  file=out)
            else:
                p(f"         {f}: same value as the canon's; only its provenance moved to this update",
                  file=out)

    writers = {}
    for u in updates:
        v = u["value"]
        for f in v["provided"] if v["op"] != "DELETE" else []:
            writers.setdefault(f, []).append(v)
    last = envs[-1] if envs else None
    p("", file=out)
    p("Conflicting writes (domains sent different values for one field): the newest event wins",
      file=out)
    conflicts = 0
    for f, vs in writers.items():
        if len({x["source"] for x in vs}) < 2 or len({json.dumps(x["values"].get(f)) for x in vs}) < 2:
            continue  # one domain, or all agree: no conflict to show
        conflicts += 1
        held = ((last or {}).get("provenance") or {}).get(f)
        p(f"  {f}:", file=out)
        for x in vs:
            mark = "   <- holds (newest)" if held and version(x) == version(held) else ""
            p(f"      {x['source']:<8} {show(date_text(f, x['values'].get(f))):<26} "
              f"event {iso(x['event_time'])}{mark}", file=out)

    if not conflicts:
        p("  (none)", file=out)
    p("", file=out)
    if last is None:
        p("No canon version for this key yet.", file=out)
        return stale_total
    if last["after"] is None:
        p(f"Current state: DELETED at version {last['version']}", file=out)
        return stale_total
    p(f"Current state (canon version {last['version']}), with provenance: who set each field, "
      "when, and in which update ([partition:offset] of the updates topic, as above)", file=out)
    p(f"  {'field':<18} {'value':<26} {'set by':<8} {'event time':<20} update", file=out)
    for f, held in (last.get("provenance") or {}).items():
        value = date_text(f, last["after"].get(f))
        # envelopes written before provenance had the update's place say -1 (unknown)
        where = f"[{held['partition']}:{held['offset']}]" if held.get("offset", -1) >= 0 else "?"
        p(f"  {f:<18} {show(value):<26} {held['source']:<8} {iso(held['event_time']):<20} {where}",
          file=out)
    return stale_total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--updates", required=True, help="canon tail canon.ENTITY.updates --plain output")
    ap.add_argument("--canon", required=True, help="canon tail canon.ENTITY --plain output")
    ap.add_argument("--key", required=True)
    args = ap.parse_args(argv)
    updates = load(args.updates, args.key)
    canon = load(args.canon, args.key)
    if not updates:
        print(f"explain: no update for key {args.key}", file=sys.stderr)
        return 1
    explain(updates, canon)
    return 0


if __name__ == "__main__":
    sys.exit(main())
