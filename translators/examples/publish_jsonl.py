"""publish_jsonl.py - put a domain's sample events on its Kafka topic, one JSON line a record.

Stands in for the domain system itself (the HR system publishing to hr.employees): the
declarative translator (`canon translate --mapping`) reads a domain topic, not a file.
The topic is created when missing (brokers here do not create topics on first use).

    python publish_jsonl.py --bootstrap-servers B --topic hr.employees FILE.jsonl [--key FIELD]

--key FIELD: the record key is that field's value (a domain's own id keeps one entity's
events in order on one partition); default: no key (all on one partition when the topic
has one, which the sample topics have).
"""
import argparse
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap-servers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--key")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("file")
    args = ap.parse_args(argv)

    conf = {"bootstrap.servers": args.bootstrap_servers}
    admin = AdminClient(conf)
    if args.topic not in admin.list_topics(timeout=10).topics:
        fut = admin.create_topics([NewTopic(args.topic, args.partitions, 1)])[args.topic]
        try:
            fut.result(timeout=30)
        except Exception as e:  # created meanwhile by someone else: fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    failed = []
    p = Producer(dict(conf, **{"enable.idempotence": True}))
    n = 0
    with open(args.file, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            key = None
            if args.key:
                key = str(json.loads(line).get(args.key, "")).encode()
            p.produce(args.topic, value=line.rstrip("\n").encode(), key=key,
                      on_delivery=lambda err, msg: err and failed.append(str(err)))
            n += 1
    left = p.flush(30)
    if failed or left:
        print(f"publish: {len(failed)} failed, {left} undelivered: {failed[:3]}", file=sys.stderr)
        return 1
    print(f"published {n} records to {args.topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
