/* App.java - the Kafka Streams application: canon.<entity>.updates -> merge -> output.
 *
 * Topology: stream(updates) -> processValues(decode: Confluent framing, Avro, checks)
 *   -> split: rejected -> DLQ topic (bytes as received, canon.error.* headers)
 *             valid    -> groupByKey -> aggregate(Merge) -> toStream
 *                         -> filter(emit) -> envelope, Confluent framed -> output topic
 * exactly_once_v2, commit.interval.ms and the record cache are settings (run.sh passes
 * 100 ms and 0 bytes: every applied update gives one envelope, as canon publishes). */
package org.canongate.bench.streams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

final class App {
    final Map<String, String> o;
    final Schema updateSchema, envelopeSchema;
    final Merge merge;
    final Map<String, Set<String>> writers = new HashMap<>();
    final Map<Integer, Schema> writerSchemas = new java.util.concurrent.ConcurrentHashMap<>();
    final AtomicLong nIn = new AtomicLong(), nEmit = new AtomicLong(), nNoop = new AtomicLong(),
                     nDlq = new AtomicLong();
    final AtomicLong firstMs = new AtomicLong();
    final int envelopeId;

    App(Map<String, String> o) throws IOException {
        this.o = o;
        updateSchema = Main.schema("person.updates.avsc");
        envelopeSchema = Main.schema("person.envelope.avsc");
        merge = new Merge(envelopeSchema);
        envelopeId = Integer.parseInt(o.getOrDefault("envelope-id", "2"));
        for (Schema.Field f : updateSchema.getField("values").schema().getFields()) {
            Object w = f.getObjectProp("canon.writers");
            if (w instanceof List<?> l) {
                Set<String> s = new HashSet<>();
                for (Object x : l)
                    s.add(x.toString());
                writers.put(f.name(), s);
            }
        }
    }

    /* The writer schema of id: from the registry when --registry is given, else the
     * update schema file for every id. */
    Schema writerSchema(int id) {
        return writerSchemas.computeIfAbsent(id, k -> {
            String reg = o.get("registry");
            if (reg == null)
                return updateSchema;
            try {
                HttpResponse<String> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create(reg + "/schemas/ids/" + k)).build(),
                    HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200)
                    return null;
                String schema = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body())
                                    .get("schema").asText();
                return new Schema.Parser().parse(schema);
            } catch (Exception e) {
                return null;
            }
        });
    }

    /* Decodes one update; sets reason for a DLQ verdict. */
    final class Decode implements FixedKeyProcessor<String, byte[], Merge.Update> {
        FixedKeyProcessorContext<String, Merge.Update> ctx;
        final Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
        BinaryDecoder dec;

        @Override
        public void init(FixedKeyProcessorContext<String, Merge.Update> c) {
            ctx = c;
        }

        @Override
        public void process(FixedKeyRecord<String, byte[]> r) {
            firstMs.compareAndSet(0, System.currentTimeMillis());
            nIn.incrementAndGet();
            Merge.Update u = new Merge.Update();
            u.key = r.key();
            u.raw = r.value();
            RecordMetadata m = ctx.recordMetadata().orElseThrow();
            u.topic = m.topic();
            u.partition = m.partition();
            u.offset = m.offset();
            check(u);
            ctx.forward(r.withValue(u));
        }

        private void check(Merge.Update u) {
            byte[] v = u.raw;
            if (v == null || v.length < 5 || v[0] != 0) {
                reject(u, "FRAMING", "not Confluent framing");
                return;
            }
            int id = ByteBuffer.wrap(v, 1, 4).getInt();
            GenericDatumReader<GenericRecord> rd = readers.get(id);
            if (rd == null) {
                Schema w = writerSchema(id);
                if (w == null) {
                    reject(u, "UNKNOWN_SCHEMA", "schema id " + id);
                    return;
                }
                rd = new GenericDatumReader<>(w, updateSchema);
                readers.put(id, rd);
            }
            try {
                dec = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, dec);
                u.body = rd.read(null, dec);
                if (!dec.isEnd())
                    throw new IOException("trailing bytes");
            } catch (Exception e) {
                reject(u, "DECODE", String.valueOf(e.getMessage()));
                return;
            }
            if (u.key == null || !u.key.equals(u.body.get(merge.keyField).toString())) {
                reject(u, "KEY_MISMATCH", "body key differs from the message key");
                return;
            }
            String src = u.body.get("source").toString();
            if (src.isEmpty() || src.getBytes(StandardCharsets.UTF_8).length > 255) {
                reject(u, "SOURCE", "source empty or longer than 255 bytes");
                return;
            }
            if (!u.body.get("op").toString().equals("UPSERT"))
                return;
            @SuppressWarnings("unchecked")
            List<CharSequence> provided = (List<CharSequence>) u.body.get("provided");
            for (CharSequence p : provided) {
                String name = p.toString();
                if (!merge.index.containsKey(name)) {
                    reject(u, "FIELD", "provided names no field: " + name);
                    return;
                }
                Set<String> w = writers.get(name);
                if (w != null && !w.contains(src)) {
                    reject(u, "WRITER", "source " + src + " may not write " + name);
                    return;
                }
            }
        }

        private void reject(Merge.Update u, String code, String msg) {
            u.body = null;
            u.reason = code;
            u.message = msg;
        }
    }

    /* The DLQ record: the bytes as received, with the reason in headers. */
    final class ToDlq implements FixedKeyProcessor<String, Merge.Update, byte[]> {
        FixedKeyProcessorContext<String, byte[]> ctx;

        @Override
        public void init(FixedKeyProcessorContext<String, byte[]> c) {
            ctx = c;
        }

        @Override
        public void process(FixedKeyRecord<String, Merge.Update> r) {
            nDlq.incrementAndGet();
            Merge.Update u = r.value();
            RecordHeaders h = new RecordHeaders();
            h.add("canon.error.code", u.reason.getBytes(StandardCharsets.UTF_8));
            h.add("canon.error.message", u.message.getBytes(StandardCharsets.UTF_8));
            h.add("canon.source.topic", u.topic.getBytes(StandardCharsets.UTF_8));
            h.add("canon.source.partition", Integer.toString(u.partition).getBytes(StandardCharsets.UTF_8));
            h.add("canon.source.offset", Long.toString(u.offset).getBytes(StandardCharsets.UTF_8));
            ctx.forward(r.withValue(u.raw).withHeaders(h));
        }
    }

    /* State serde: one byte (emit), then the envelope's Avro binary; empty = no state. */
    final class StateSerde implements Serde<Merge.State> {
        final GenericDatumWriter<GenericRecord> w = new GenericDatumWriter<>(envelopeSchema);
        final GenericDatumReader<GenericData.Record> rd = new GenericDatumReader<>(envelopeSchema);

        @Override
        public Serializer<Merge.State> serializer() {
            return (t, s) -> {
                if (s == null)
                    return null;
                ByteArrayOutputStream out = new ByteArrayOutputStream(512);
                out.write(s.emit ? 1 : 0);
                if (s.env != null) {
                    try {
                        BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
                        w.write(s.env, e);
                        e.flush();
                    } catch (IOException x) {
                        throw new RuntimeException(x);
                    }
                }
                return out.toByteArray();
            };
        }

        @Override
        public Deserializer<Merge.State> deserializer() {
            return (t, b) -> {
                if (b == null)
                    return null;
                if (b.length == 1)
                    return new Merge.State(null, b[0] == 1);
                try {
                    BinaryDecoder d = DecoderFactory.get().binaryDecoder(b, 1, b.length - 1, null);
                    return new Merge.State(rd.read(null, d), b[0] == 1);
                } catch (IOException x) {
                    throw new RuntimeException(x);
                }
            };
        }
    }

    /* The serde of decoded updates: never used (no repartition: the key never changes). */
    static final class NoSerde implements Serde<Merge.Update> {
        @Override
        public Serializer<Merge.Update> serializer() {
            return (t, u) -> {
                throw new IllegalStateException("decoded updates are never serialized");
            };
        }

        @Override
        public Deserializer<Merge.Update> deserializer() {
            return (t, b) -> {
                throw new IllegalStateException("decoded updates are never deserialized");
            };
        }
    }

    byte[] frame(GenericRecord env, GenericDatumWriter<GenericRecord> w) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
        out.write(0);
        out.writeBytes(ByteBuffer.allocate(4).putInt(envelopeId).array());
        try {
            BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
            w.write(env, e);
            e.flush();
        } catch (IOException x) {
            throw new RuntimeException(x);
        }
        return out.toByteArray();
    }

    void run() throws Exception {
        String bootstrap = o.get("bootstrap"), input = o.get("input"), output = o.get("output");
        String dlq = o.getOrDefault("dlq", output + ".dlq");
        String store = o.getOrDefault("store", "rocksdb");

        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            int parts = admin.describeTopics(List.of(input)).allTopicNames().get().get(input).partitions().size();
            for (String t : List.of(output, dlq)) {
                NewTopic nt = new NewTopic(t, parts, (short) 1);
                if (t.equals(output))
                    nt.configs(Map.of("cleanup.policy", "compact"));
                try {
                    admin.createTopics(List.of(nt)).all().get();
                } catch (java.util.concurrent.ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException))
                        throw e;
                }
            }
        }

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, o.get("app-id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.getOrDefault("commit-ms", "100"));
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, o.getOrDefault("cache-bytes", "0"));
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.getOrDefault("threads", "1"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, o.get("state-dir"));
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        GenericDatumWriter<GenericRecord> envWriter = new GenericDatumWriter<>(envelopeSchema);
        Serde<Merge.State> stateSerde = new StateSerde();
        KeyValueBytesStoreSupplier supplier = store.equals("memory")
            ? Stores.inMemoryKeyValueStore("canon-state")
            : Stores.persistentTimestampedKeyValueStore("canon-state");

        StreamsBuilder b = new StreamsBuilder();
        KStream<String, Merge.Update> decoded =
            b.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray())).processValues(Decode::new);
        Map<String, KStream<String, Merge.Update>> br =
            decoded.split(org.apache.kafka.streams.kstream.Named.as("u-"))
                .branch((k, u) -> u.reason != null, Branched.as("bad"))
                .defaultBranch(Branched.as("ok"));
        br.get("u-bad").processValues(ToDlq::new).to(dlq, Produced.with(Serdes.String(), Serdes.ByteArray()));
        br.get("u-ok")
            .groupByKey(Grouped.with(Serdes.String(), new NoSerde()))
            .aggregate(() -> new Merge.State(null, false), (k, u, st) -> merge.apply(u, st),
                       Materialized.<String, Merge.State>as(supplier)
                           .withKeySerde(Serdes.String())
                           .withValueSerde(stateSerde))
            .toStream()
            .filter((k, s) -> {
                if (s != null && s.emit)
                    return true;
                nNoop.incrementAndGet();
                return false;
            })
            .mapValues(s -> {
                nEmit.incrementAndGet();
                return frame(s.env, envWriter);
            })
            .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

        KafkaStreams ks = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        String t0File = o.get("t0-file");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            ks.close(java.time.Duration.ofSeconds(20));
            System.out.println("streams.app_in=" + nIn.get());
            System.out.println("streams.app_published=" + nEmit.get());
            System.out.println("streams.app_noop=" + nNoop.get());
            System.out.println("streams.app_dlq=" + nDlq.get());
            System.out.flush();
            done.countDown();
        }));
        ks.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                .SHUTDOWN_CLIENT;
        });
        ks.start();
        /* The first record's wall-clock time, for the throughput clock. */
        while (done.getCount() > 0) {
            if (t0File != null && firstMs.get() != 0) {
                Files.writeString(Path.of(t0File + ".tmp"), Long.toString(firstMs.get()));
                Files.move(Path.of(t0File + ".tmp"), Path.of(t0File),
                           java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                t0File = null;
            }
            if (ks.state() == KafkaStreams.State.ERROR || ks.state() == KafkaStreams.State.NOT_RUNNING) {
                System.err.println("streams: state " + ks.state());
                System.exit(1);
            }
            Thread.sleep(20);
        }
    }
}
