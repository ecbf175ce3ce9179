/* Merge.java - the canon merge rules (docs/aggregator.md, section 1) over Avro generic
 * records, for the Kafka Streams reference of the aggregator benchmark.
 *
 * The aggregate kept per key is the last envelope itself (key, version, before, after,
 * provenance, deleted, ...): it carries everything the rules need, so the state store
 * holds exactly what the canon topic would. A State also says whether the last update
 * changed anything (emit), because a Streams aggregate forwards on every input record and
 * the canon aggregator publishes nothing for a no-op. */
package org.canongate.bench.streams;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;

final class Merge {
    /** One decoded update, or a rejection, with the record it came from (the cause). */
    static final class Update {
        String key;
        GenericRecord body; /* null when rejected */
        String reason;      /* DLQ code (docs/aggregator.md names), null when valid */
        String message;
        byte[] raw;
        String topic;
        int partition;
        long offset;
    }

    /** The aggregate: the last envelope (null before the first update) and whether the
     * last merge changed it. */
    static final class State {
        final GenericData.Record env;
        final boolean emit;

        State(GenericData.Record env, boolean emit) {
            this.env = env;
            this.emit = emit;
        }
    }

    final Schema envelope, person, fieldVersion, cause, changeOp;
    final List<Schema.Field> fields = new ArrayList<>(); /* canonical fields but the key */
    final Map<String, Integer> index = new HashMap<>();
    final String keyField;

    Merge(Schema envelope) {
        this.envelope = envelope;
        this.person = envelope.getField("before").schema().getTypes().get(1);
        this.fieldVersion = envelope.getField("deleted").schema().getTypes().get(1);
        this.cause = envelope.getField("cause").schema();
        this.changeOp = envelope.getField("op").schema();
        this.keyField = person.getProp("canon.key");
        for (Schema.Field f : person.getFields()) {
            if (f.name().equals(keyField))
                continue;
            index.put(f.name(), fields.size());
            fields.add(f);
        }
    }

    /* (event_time, source as UTF-8 bytes, seq), as canon/state.h compares them. */
    static int compare(long t1, CharSequence s1, long q1, long t2, CharSequence s2, long q2) {
        if (t1 != t2)
            return Long.compare(t1, t2);
        int c = compareBytes(s1, s2);
        if (c != 0)
            return c;
        return Long.compare(q1, q2);
    }

    static int compareBytes(CharSequence a, CharSequence b) {
        byte[] x = a.toString().getBytes(StandardCharsets.UTF_8);
        byte[] y = b.toString().getBytes(StandardCharsets.UTF_8);
        return java.util.Arrays.compareUnsigned(x, y);
    }

    static int compare(GenericRecord u, GenericRecord fv) {
        return compare((Long) u.get("event_time"), (CharSequence) u.get("source"), (Long) u.get("seq"),
                       (Long) fv.get("event_time"), (CharSequence) fv.get("source"), (Long) fv.get("seq"));
    }

    private Object defaultOf(Schema.Field f) {
        return GenericData.get().getDefaultValue(f);
    }

    /** Applies u to st; returns the new state (emit false: publish nothing). */
    State apply(Update u, State st) {
        GenericRecord up = u.body;
        GenericData.Record old = st == null ? null : st.env;
        GenericRecord before = old == null ? null : (GenericRecord) old.get("after");
        @SuppressWarnings("unchecked")
        Map<CharSequence, Object> oldProv = old == null ? Map.of() : (Map<CharSequence, Object>) old.get("provenance");
        GenericRecord deleted = old == null ? null : (GenericRecord) old.get("deleted");

        Object[] vals = new Object[fields.size()];
        GenericRecord[] prov = new GenericRecord[fields.size()];
        for (int i = 0; i < vals.length; i++) {
            Schema.Field f = fields.get(i);
            vals[i] = before != null ? before.get(f.name()) : defaultOf(f);
        }
        for (Map.Entry<CharSequence, Object> e : oldProv.entrySet()) {
            Integer i = index.get(e.getKey().toString());
            if (i != null)
                prov[i] = (GenericRecord) e.getValue();
        }

        boolean changedState = false;
        String op = up.get("op").toString();
        if (op.equals("DELETE")) {
            if (deleted != null && compare(up, deleted) <= 0)
                return new State(old, false);
            deleted = version(u, up);
            for (int i = 0; i < vals.length; i++) {
                if (prov[i] != null && compare(prov[i], up) < 0) {
                    prov[i] = null;
                    vals[i] = defaultOf(fields.get(i));
                }
            }
            changedState = true;
        } else {
            GenericRecord values = (GenericRecord) up.get("values");
            @SuppressWarnings("unchecked")
            List<CharSequence> provided = (List<CharSequence>) up.get("provided");
            GenericRecord v = null;
            for (CharSequence name : provided) {
                int i = index.get(name.toString()); /* checked when decoded */
                if (prov[i] != null && compare(up, prov[i]) <= 0)
                    continue; /* stale */
                if (deleted != null && compare(up, deleted) <= 0)
                    continue;
                Object x = values.get(name.toString());
                Schema.Field f = fields.get(i);
                vals[i] = x == null && f.schema().getType() != Schema.Type.UNION ? defaultOf(f) : x;
                if (v == null)
                    v = version(u, up);
                prov[i] = v;
                changedState = true;
            }
        }
        if (!changedState)
            return new State(old, false);

        boolean alive = false;
        Map<String, Object> provMap = new LinkedHashMap<>();
        for (int i = 0; i < prov.length; i++) {
            if (prov[i] != null) {
                alive = true;
                provMap.put(fields.get(i).name(), prov[i]);
            }
        }
        GenericData.Record after = null;
        if (alive) {
            after = new GenericData.Record(person);
            after.put(keyField, u.key);
            for (int i = 0; i < vals.length; i++)
                after.put(fields.get(i).name(), vals[i]);
        }
        List<String> changed = new ArrayList<>();
        for (int i = 0; i < vals.length; i++) {
            Schema.Field f = fields.get(i);
            Object a = before != null ? before.get(f.name()) : defaultOf(f);
            Object b = vals[i];
            if (GenericData.get().compare(a, b, f.schema()) != 0)
                changed.add(f.name());
        }
        String cop = before == null && alive ? "CREATE" : !alive ? "DELETE" : "UPDATE";

        GenericData.Record env = new GenericData.Record(envelope);
        env.put("key", u.key);
        env.put("version", (old == null ? 0L : (Long) old.get("version")) + 1);
        env.put("op", new GenericData.EnumSymbol(changeOp, cop));
        env.put("before", before);
        env.put("after", after);
        env.put("changed", changed);
        env.put("provenance", provMap);
        env.put("deleted", deleted);
        GenericData.Record c = new GenericData.Record(cause);
        c.put("topic", u.topic);
        c.put("partition", u.partition);
        c.put("offset", u.offset);
        env.put("cause", c);
        return new State(env, true);
    }

    /* The update's version and its place in the updates topic (docs/wire.md FieldVersion). */
    private GenericRecord version(Update u, GenericRecord up) {
        GenericData.Record v = new GenericData.Record(fieldVersion);
        v.put("source", up.get("source"));
        v.put("event_time", up.get("event_time"));
        v.put("seq", up.get("seq"));
        v.put("partition", u.partition);
        v.put("offset", u.offset);
        return v;
    }
}
