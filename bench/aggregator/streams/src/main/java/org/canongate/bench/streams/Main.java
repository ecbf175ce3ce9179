/* Main.java - entry point of the Kafka Streams reference: subcommands
 *   app      the Streams merge (App.java), runs until SIGTERM
 *   load     fills an updates topic with real person updates (Avro, Confluent framing)
 *   wait     waits until the app's group committed every input offset; prints the rate
 *   latency  produces at a fixed rate and reads the output read_committed: p50/p99
 * Options are --name value pairs. Results are printed as streams.<name>=<value> lines. */
package org.canongate.bench.streams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Main {
    static Schema schema(String name) throws IOException {
        try (InputStream in = Main.class.getResourceAsStream("/" + name)) {
            return new Schema.Parser().parse(in);
        }
    }

    static Map<String, String> opts(String[] a) {
        Map<String, String> o = new HashMap<>();
        for (int i = 1; i + 1 < a.length; i += 2) {
            if (!a[i].startsWith("--"))
                throw new IllegalArgumentException("expected --name value, got " + a[i]);
            o.put(a[i].substring(2), a[i + 1]);
        }
        return o;
    }

    static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null)
            throw new IllegalArgumentException("missing --" + k);
        return v;
    }

    public static void main(String[] a) throws Exception {
        if (a.length < 1) {
            System.err.println("usage: Main app|load|wait|latency|selftest --name value ...");
            System.exit(2);
        }
        Map<String, String> o = opts(a);
        switch (a[0]) {
        case "app" -> new App(o).run();
        case "load" -> load(o);
        case "wait" -> waitDone(o);
        case "latency" -> latency(o);
        case "selftest" -> new SelfTest().run();
        default -> {
            System.err.println("unknown subcommand " + a[0]);
            System.exit(2);
        }
        }
    }

    /* ---- load: real updates of the example person schema ---- */

    static final String[] SOURCES = {"hr", "crm", "support"};
    static final String[][] FIELDS = {
        {"given_name", "family_name", "email", "birth_date", "employment_status", "address"},
        {"given_name", "family_name", "email", "phone", "tags", "address"},
        {"email", "phone", "support_tier"}};

    static String key(long k) {
        return String.format("00000000-0000-4000-8000-%012d", k);
    }

    /* Update number i (for key k): a source, 2 to 4 of the fields it may write, 3% of them
     * cleared, 1% DELETE, 10% with an event time up to a minute older (stale fields). */
    static final class Gen {
        final Schema s, values, addr, status;
        final GenericDatumWriter<GenericRecord> w;
        final int schemaId;
        BinaryEncoder enc;

        Gen(int schemaId) throws IOException {
            this.schemaId = schemaId;
            s = schema("person.updates.avsc");
            values = s.getField("values").schema();
            addr = values.getField("address").schema().getTypes().get(1);
            status = values.getField("employment_status").schema().getTypes().get(1);
            w = new GenericDatumWriter<>(s);
        }

        byte[] make(long i, String key, long eventTime) throws IOException {
            Random r = new Random(i * 0x9E3779B97F4A7C15L);
            int src = (int) (i % 3);
            GenericData.Record u = new GenericData.Record(s);
            u.put("person_id", key);
            u.put("source", SOURCES[src]);
            u.put("event_time", r.nextInt(10) == 0 ? eventTime - r.nextInt(60000) : eventTime);
            u.put("seq", i);
            GenericData.Record v = new GenericData.Record(values);
            List<String> provided = new ArrayList<>();
            boolean delete = r.nextInt(100) == 0;
            u.put("op", new GenericData.EnumSymbol(s.getField("op").schema(), delete ? "DELETE" : "UPSERT"));
            if (!delete) {
                String[] f = FIELDS[src];
                int n = 2 + r.nextInt(3);
                for (int j = 0; j < n; j++) {
                    String name = f[r.nextInt(f.length)];
                    if (provided.contains(name))
                        continue;
                    provided.add(name);
                    if (r.nextInt(100) < 3)
                        continue; /* clear */
                    v.put(name, value(name, r, i));
                }
            }
            u.put("provided", provided);
            u.put("values", v);
            ByteArrayOutputStream out = new ByteArrayOutputStream(256);
            out.write(0);
            out.writeBytes(ByteBuffer.allocate(4).putInt(schemaId).array());
            enc = EncoderFactory.get().binaryEncoder(out, enc);
            w.write(u, enc);
            enc.flush();
            return out.toByteArray();
        }

        Object value(String name, Random r, long i) {
            switch (name) {
            case "birth_date": return 3000 + r.nextInt(20000);
            case "employment_status":
                return new GenericData.EnumSymbol(status, status.getEnumSymbols().get(r.nextInt(4)));
            case "address": {
                GenericData.Record a = new GenericData.Record(addr);
                a.put("street", (r.nextInt(200) + 1) + " Canon Street");
                a.put("city", "City " + r.nextInt(1000));
                a.put("postal_code", String.format("%05d", r.nextInt(100000)));
                a.put("country", "GB");
                return a;
            }
            case "tags": return List.of("t" + r.nextInt(20), "t" + r.nextInt(20));
            case "email": return "person" + r.nextInt(1000000) + "@example.org";
            case "phone": return "+44 20 " + (10000000 + r.nextInt(89999999));
            case "support_tier": return new String[] {"gold", "silver", "bronze"}[r.nextInt(3)];
            default: return name + "-" + Long.toString(i % 9973, 36);
            }
        }
    }

    static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("linger.ms", "20");
        p.put("batch.size", "262144");
        p.put("buffer.memory", "134217728");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return p;
    }

    static void createTopic(String bootstrap, String topic, int partitions) throws Exception {
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException))
                throw e;
        }
    }

    static long stride(long keys) {
        long s = (long) (keys * 0.618) | 1;
        while (s > 1 && gcd(s, keys) != 1)
            s--;
        return Math.max(s, 1);
    }

    static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    static void load(Map<String, String> o) throws Exception {
        String bootstrap = need(o, "bootstrap"), topic = need(o, "topic");
        long n = Long.parseLong(need(o, "n")), keys = Long.parseLong(need(o, "keys"));
        int partitions = Integer.parseInt(o.getOrDefault("partitions", "6"));
        createTopic(bootstrap, topic, partitions);
        Gen g = new Gen(Integer.parseInt(o.getOrDefault("schema-id", "1")));
        long stride = stride(keys), base = 1_700_000_000_000L;
        AtomicLong failed = new AtomicLong();
        long bytes = 0, t0 = System.nanoTime();
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(producerProps(bootstrap))) {
            for (long i = 0; i < n; i++) {
                String k = key((i * stride) % keys);
                byte[] v = g.make(i, k, base + i);
                bytes += v.length;
                p.send(new ProducerRecord<>(topic, k, v), (m, e) -> {
                    if (e != null && failed.getAndIncrement() == 0)
                        e.printStackTrace();
                });
            }
            p.flush();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        if (failed.get() > 0) {
            System.err.println("load: " + failed.get() + " records failed");
            System.exit(1);
        }
        System.out.printf("streams.load_records=%d%nstreams.load_keys=%d%nstreams.load_avg_bytes=%.0f%n"
                              + "streams.load_seconds=%.2f%nstreams.load_records_per_s=%.0f%n",
                          n, keys, (double) bytes / n, secs, n / secs);
    }

    /* ---- wait: the app has processed every input record ---- */

    static Map<TopicPartition, Long> endOffsets(Admin admin, String topic) throws Exception {
        var d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
        Map<TopicPartition, OffsetSpec> q = new HashMap<>();
        for (var pi : d.partitions())
            q.put(new TopicPartition(topic, pi.partition()), OffsetSpec.latest());
        Map<TopicPartition, Long> r = new HashMap<>();
        admin.listOffsets(q).all().get().forEach((tp, x) -> r.put(tp, x.offset()));
        return r;
    }

    /* Returns the wall-clock ms at which the group's committed offsets reached end, or -1. */
    static long awaitCommitted(Admin admin, String group, Map<TopicPartition, Long> end, long deadline)
        throws Exception {
        while (System.currentTimeMillis() < deadline) {
            Map<TopicPartition, OffsetAndMetadata> c =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            boolean all = true;
            for (var e : end.entrySet()) {
                OffsetAndMetadata m = c.get(e.getKey());
                /* A transaction's commit marker takes an offset: committed may pass end. */
                if (e.getValue() > 0 && (m == null || m.offset() < e.getValue())) {
                    all = false;
                    break;
                }
            }
            if (all)
                return System.currentTimeMillis();
            Thread.sleep(25);
        }
        return -1;
    }

    static void waitDone(Map<String, String> o) throws Exception {
        String bootstrap = need(o, "bootstrap"), topic = need(o, "input"), group = need(o, "app-id");
        long n = Long.parseLong(need(o, "n"));
        long deadline = System.currentTimeMillis() + 1000L * Long.parseLong(o.getOrDefault("timeout", "600"));
        Path t0File = Path.of(need(o, "t0-file"));
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            Map<TopicPartition, Long> end = endOffsets(admin, topic);
            long t1 = awaitCommitted(admin, group, end, deadline);
            if (t1 < 0 || !Files.exists(t0File)) {
                System.out.println("streams.error=timeout");
                System.exit(1);
            }
            long t0 = Long.parseLong(Files.readString(t0File).trim());
            double secs = (t1 - t0) / 1000.0;
            System.out.printf("streams.records=%d%nstreams.seconds=%.2f%nstreams.records_per_s=%.0f%n", n, secs,
                              n / secs);
        }
    }

    /* ---- latency: produce at a rate, read the output read_committed ---- */

    static void latency(Map<String, String> o) throws Exception {
        String bootstrap = need(o, "bootstrap"), input = need(o, "input"), output = need(o, "output");
        String group = need(o, "app-id");
        int rate = Integer.parseInt(o.getOrDefault("rate", "10000"));
        int seconds = Integer.parseInt(o.getOrDefault("seconds", "10"));
        long keys = Long.parseLong(o.getOrDefault("keys", "20000"));
        long first = Long.parseLong(o.getOrDefault("first-seq", "100000000"));
        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("isolation.level", "read_committed");
        cp.put("enable.auto.commit", "false");
        cp.put("key.deserializer", ByteArrayDeserializer.class.getName());
        cp.put("value.deserializer", ByteArrayDeserializer.class.getName());
        List<Long> lat = Collections.synchronizedList(new ArrayList<>());
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap);
             KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp)) {
            List<TopicPartition> tps = new ArrayList<>(endOffsets(admin, output).keySet());
            c.assign(tps);
            c.seekToEnd(tps);
            for (TopicPartition tp : tps)
                c.position(tp);
            long start = System.currentTimeMillis();
            Thread prod = new Thread(() -> {
                try {
                    Gen g = new Gen(Integer.parseInt(o.getOrDefault("schema-id", "1")));
                    long stride = stride(keys), total = (long) rate * seconds;
                    long t0 = System.nanoTime();
                    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(producerProps(bootstrap))) {
                        for (long j = 0; j < total; j++) {
                            long due = t0 + j * 1_000_000_000L / rate;
                            long now;
                            while ((now = System.nanoTime()) < due)
                                Thread.onSpinWait();
                            long i = first + j;
                            String k = key((i * stride) % keys);
                            p.send(new ProducerRecord<>(input, k, g.make(i, k, System.currentTimeMillis())));
                        }
                        p.flush();
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
            prod.start();
            long deadline = start + 1000L * (seconds + 120);
            boolean producing = true;
            long doneAt = -1;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(5))) {
                    long now = System.currentTimeMillis();
                    if (r.timestamp() >= start)
                        lat.add(now - r.timestamp());
                }
                if (producing && !prod.isAlive()) {
                    producing = false;
                    Map<TopicPartition, Long> end = endOffsets(admin, input);
                    doneAt = awaitCommitted(admin, group, end, deadline);
                    /* Read the output up to its last stable offset (read_committed: the
                     * end of the last committed transaction), which now covers it all. */
                    Map<TopicPartition, Long> lso = c.endOffsets(tps);
                    while (System.currentTimeMillis() < deadline) {
                        boolean behind = false;
                        for (TopicPartition tp : tps)
                            if (c.position(tp) < lso.get(tp))
                                behind = true;
                        if (!behind)
                            break;
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(5)))
                            if (r.timestamp() >= start)
                                lat.add(System.currentTimeMillis() - r.timestamp());
                    }
                    break;
                }
            }
            prod.join(1000);
            List<Long> l = new ArrayList<>(lat);
            Collections.sort(l);
            if (l.isEmpty() || doneAt < 0) {
                System.out.println("streams.latency_error=no output or not all committed in time");
                System.exit(1);
            }
            System.out.printf("streams.latency_rate=%d%nstreams.latency_updates=%d%nstreams.latency_outputs=%d%n"
                                  + "streams.latency_phase_records_per_s=%.0f%n"
                                  + "streams.latency_p50_ms=%d%nstreams.latency_p99_ms=%d%nstreams.latency_max_ms=%d%n",
                              rate, (long) rate * seconds, l.size(),
                              (double) rate * seconds * 1000.0 / Math.max(1, doneAt - start), l.get(l.size() / 2),
                              l.get((int) Math.min(l.size() - 1, Math.ceil(l.size() * 0.99) - 1)), l.get(l.size() - 1));
        }
    }
}
