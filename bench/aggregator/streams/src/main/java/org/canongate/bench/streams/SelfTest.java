/* SelfTest.java - checks that this reference merges as the canon rules say, so that the
 * benchmark compares like with like: (1) order independence: random updates of one key
 * (several sources, stale times, clears, DELETEs) applied in many random orders end in
 * the same after, provenance and deleted; (2) a few rules one by one.
 * Run: java -cp ... org.canongate.bench.streams.Main selftest; prints "N passed, M failed". */
package org.canongate.bench.streams;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;

final class SelfTest {
    int passed, failed;

    void check(boolean ok, String what) {
        if (ok) {
            passed++;
        } else {
            failed++;
            System.out.println("FAIL: " + what);
        }
    }

    static Merge.Update decode(Schema s, String key, byte[] v, long offset) throws Exception {
        GenericDatumReader<GenericRecord> rd = new GenericDatumReader<>(s);
        Merge.Update u = new Merge.Update();
        u.key = key;
        u.body = rd.read(null, DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, null));
        u.topic = "t";
        u.offset = offset;
        return u;
    }

    static Merge.State run(Merge m, List<Merge.Update> us) {
        Merge.State st = new Merge.State(null, false);
        for (Merge.Update u : us)
            st = m.apply(u, st);
        return st;
    }

    static String summary(Merge.State st) {
        if (st.env == null)
            return "none";
        return st.env.get("after") + " | " + st.env.get("provenance") + " | " + st.env.get("deleted");
    }

    void run() throws Exception {
        Merge m = new Merge(Main.schema("person.envelope.avsc"));
        Main.Gen g = new Main.Gen(1);
        String key = Main.key(7);
        Random r = new Random(42);
        for (int trial = 0; trial < 40; trial++) {
            List<Merge.Update> us = new ArrayList<>();
            for (int i = 0; i < 25; i++) {
                long n = trial * 1000L + i;
                /* Few distinct event times, so that ties on time are decided by source, seq. */
                us.add(decode(g.s, key, g.make(n, key, 1000 + r.nextInt(8)), n));
            }
            String first = summary(run(m, us));
            boolean same = true;
            for (int k = 0; k < 30 && same; k++) {
                Collections.shuffle(us, r);
                same = summary(run(m, us)).equals(first);
            }
            check(same, "order independence, trial " + trial + ": " + first);
        }

        /* Rules one by one, on hand-made updates. */
        Schema s = g.s;
        Schema values = s.getField("values").schema();
        Merge.State st = new Merge.State(null, false);
        st = m.apply(upd(s, values, key, "crm", 10, 1, "UPSERT", "email", "a@x"), st);
        check(st.emit && st.env.get("op").toString().equals("CREATE"), "first update creates");
        Merge.State st2 = m.apply(upd(s, values, key, "crm", 9, 2, "UPSERT", "email", "old@x"), st);
        check(!st2.emit, "older update of a field is a no-op");
        st2 = m.apply(upd(s, values, key, "crm", 10, 1, "UPSERT", "email", "a@x"), st);
        check(!st2.emit, "a replayed update is a no-op");
        st = m.apply(upd(s, values, key, "hr", 11, 1, "UPSERT", "email", null), st);
        check(st.emit && ((GenericRecord) st.env.get("after")).get("email") == null
                  && st.env.get("changed").toString().equals("[email]"),
              "provided null clears");
        st2 = m.apply(upd(s, values, key, "crm", 10, 5, "UPSERT", "email", "b@x"), st);
        check(!st2.emit, "a cleared field is not set again by an older update");
        st = m.apply(upd(s, values, key, "hr", 20, 1, "DELETE", null, null), st);
        check(st.emit && st.env.get("after") == null && st.env.get("op").toString().equals("DELETE"),
              "DELETE removes the entity");
        st2 = m.apply(upd(s, values, key, "crm", 19, 1, "UPSERT", "phone", "1"), st);
        check(!st2.emit, "an update older than the DELETE cannot resurrect");
        st = m.apply(upd(s, values, key, "crm", 21, 1, "UPSERT", "phone", "1"), st);
        check(st.emit && st.env.get("op").toString().equals("CREATE") && st.env.get("deleted") != null
                  && (Long) st.env.get("version") == 4L,
              "a newer update re-creates, deleted kept, version without gaps");
        System.out.println(passed + " passed, " + failed + " failed");
        if (failed > 0)
            System.exit(1);
    }

    static Merge.Update upd(Schema s, Schema values, String key, String src, long t, long seq, String op,
                            String field, Object value) {
        GenericData.Record u = new GenericData.Record(s);
        u.put("person_id", key);
        u.put("source", src);
        u.put("event_time", t);
        u.put("seq", seq);
        u.put("op", new GenericData.EnumSymbol(s.getField("op").schema(), op));
        GenericData.Record v = new GenericData.Record(values);
        List<String> provided = new ArrayList<>();
        if (field != null) {
            provided.add(field);
            v.put(field, value);
        }
        u.put("provided", provided);
        u.put("values", v);
        Merge.Update mu = new Merge.Update();
        mu.key = key;
        mu.body = u;
        mu.topic = "t";
        return mu;
    }
}
