/*
 * ResolveCheck - the Java binding of tests/vectors/person.avsc reads canon topic values
 * written with another envelope version, through the registry
 * (PersonCanon.envelopeDecoder / consumer(kafka, registryUrl), runtime RegistryDecoder).
 *
 * Usage: java ResolveCheck <registry url> <legacy id> <legacy schema file> <own id>
 *        <incompatible id>
 * where the registry (a real `canon registry`) holds, under those ids: the envelope schema
 * as first derived (FieldVersion without partition and offset), this binding's
 * ENVELOPE_SCHEMA, and a record Avro cannot resolve against it. Datums are written with
 * Apache Avro Java's GenericDatumWriter, not with the binding. Prints "ok <name>" per
 * check; exits 1 on the first failure.
 */
import canongate.FieldVersion;
import canongate.runtime.Framed;
import canongate.runtime.RegistryDecoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.canongate.canon.Person;
import org.canongate.canon.PersonCanon;
import org.canongate.canon.PersonEnvelope;

public final class ResolveCheck {
  private ResolveCheck() {}

  private static final UUID KEY = UUID.fromString("123e4567-e89b-12d3-a456-426614174000");
  private static final Instant T1 = Instant.ofEpochMilli(1700000000123L);
  private static final Instant T2 = Instant.ofEpochMilli(1700000000456L);
  private static final Instant T0 = Instant.ofEpochMilli(1600000000000L);

  private static void check(boolean cond, String what) {
    if (!cond) {
      System.out.println("FAIL " + what);
      System.exit(1);
    }
  }

  private static GenericRecord version(Schema fv, String source, Instant t, long seq, boolean withPosition) {
    GenericRecord v = new GenericData.Record(fv);
    v.put("source", source);
    v.put("event_time", t.toEpochMilli());
    v.put("seq", seq);
    if (withPosition) {
      v.put("partition", 2);
      v.put("offset", 17L + seq);
    }
    return v;
  }

  /** An UPDATE envelope of KEY in schema env, framed with id. */
  private static byte[] envelope(Schema env, int id, boolean withPosition) throws IOException {
    GenericRecord ge = new GenericData.Record(env);
    ge.put("key", KEY.toString());
    ge.put("version", 3L);
    ge.put("op", new GenericData.EnumSymbol(env.getField("op").schema(), "UPDATE"));
    Schema personSchema = env.getField("after").schema().getTypes().get(1);
    GenericRecord p = new GenericData.Record(personSchema);
    for (Schema.Field f : personSchema.getFields())
      if (f.hasDefaultValue()) p.put(f.name(), GenericData.get().getDefaultValue(f));
    p.put("person_id", KEY.toString());
    p.put("given_name", "Ada");
    p.put("email", "ada@example.org");
    p.put("tags", new GenericData.Array<Object>(personSchema.getField("tags").schema(), List.of("vip")));
    ge.put("before", null);
    ge.put("after", p);
    ge.put("changed", new GenericData.Array<Object>(env.getField("changed").schema(), List.of("given_name", "email")));
    Schema fv = env.getField("provenance").schema().getValueType();
    ge.put("provenance", Map.of("given_name", version(fv, "hr", T1, 1, withPosition),
        "email", version(fv, "crm", T2, 2, withPosition)));
    ge.put("deleted", version(fv, "crm", T0, 0, withPosition));
    GenericRecord cause = new GenericData.Record(env.getField("cause").schema());
    cause.put("topic", "canon.person.updates");
    cause.put("partition", 1);
    cause.put("offset", 99L);
    ge.put("cause", cause);
    ByteArrayOutputStream bo = new ByteArrayOutputStream();
    bo.write(new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id});
    BinaryEncoder be = EncoderFactory.get().binaryEncoder(bo, null);
    new GenericDatumWriter<Object>(env).write(ge, be);
    be.flush();
    return bo.toByteArray();
  }

  /** The envelope both versions hold, with the field versions' partition and offset. */
  private static boolean same(PersonEnvelope e, int partition, long offset2, long offset1, long offset0) {
    Person a = e.getAfter();
    return e.getKey().equals(KEY) && e.getVersion() == 3L && e.getOp() == canongate.ChangeOp.UPDATE
        && e.getBefore() == null && a != null && a.getGivenName().equals("Ada")
        && a.getEmail().equals("ada@example.org") && a.getTags().equals(List.of("vip"))
        && e.getChanged().equals(List.of("given_name", "email"))
        && e.getProvenance().equals(Map.of(
            "given_name", new FieldVersion("hr", T1, 1L, partition, offset1),
            "email", new FieldVersion("crm", T2, 2L, partition, offset2)))
        && e.getDeleted().equals(new FieldVersion("crm", T0, 0L, partition, offset0))
        && e.getCause().getPartition() == 1 && e.getCause().getOffset() == 99L;
  }

  /**
   * An envelope in schema env framed with id, cut after the count of its changed list (n)
   * or, when provenance, after the count of its provenance map (n, changed empty): a few
   * bytes that ask for n items.
   */
  private static byte[] counted(Schema env, int id, long n, boolean provenance) throws IOException {
    ByteArrayOutputStream bo = new ByteArrayOutputStream();
    bo.write(new byte[] {0, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id});
    BinaryEncoder be = EncoderFactory.get().binaryEncoder(bo, null);
    be.writeString(KEY.toString());
    be.writeLong(3L);
    be.writeEnum(env.getField("op").schema().getEnumOrdinal("UPDATE"));
    be.writeIndex(0); // before: null
    be.writeIndex(0); // after: null
    be.writeLong(provenance ? 0 : n);
    if (provenance) be.writeLong(n);
    be.flush();
    return bo.toByteArray();
  }

  private static String failure(RegistryDecoder<PersonEnvelope> d, byte[] framed) {
    try {
      d.decode(framed);
      return null;
    } catch (IOException e) {
      System.err.println("error: " + e.getMessage());  // for whoever reads a failure
      return e.getMessage();
    }
  }

  public static void main(String[] args) throws Exception {
    String url = args[0];
    int legacyId = Integer.parseInt(args[1]);
    Schema legacy = new Schema.Parser().parse(Files.readString(Path.of(args[2])));
    int ownId = Integer.parseInt(args[3]);
    int badId = Integer.parseInt(args[4]);
    Schema own = new Schema.Parser().parse(PersonCanon.ENVELOPE_SCHEMA);

    byte[] old = envelope(legacy, legacyId, false);
    RegistryDecoder<PersonEnvelope> dec = PersonCanon.envelopeDecoder(url);
    Framed<PersonEnvelope> f = dec.decode(old);
    check(f.schemaId() == legacyId, "schema id of the legacy frame");
    check(same(f.value(), -1, -1L, -1L, -1L), "legacy envelope: values kept, partition and offset -1: " + f.value());
    // re-encoded, it is an envelope of this binding's version, decoded by the fast path
    Framed<PersonEnvelope> again = dec.decode(f.value().toFramed(ownId));
    check(again.schemaId() == ownId && again.value().equals(f.value()), "re-encoded in this version");
    System.out.println("ok legacy envelope");

    // The generated decoder alone reads only its own version: the legacy bytes fail there.
    String plain;
    try {
      plain = "decoded " + PersonCanon.decodeEnvelope(old).value();
    } catch (IOException e) {
      plain = e.getMessage();
      System.err.println("exact-version decoder: " + plain);
    }
    check(!plain.startsWith("decoded"), "the exact-version decoder refuses the legacy bytes: " + plain);
    System.out.println("ok exact-version decoder refuses legacy bytes");

    byte[] cur = envelope(own, ownId, true);
    Framed<PersonEnvelope> fc = dec.decode(cur);
    check(fc.schemaId() == ownId && same(fc.value(), 2, 19L, 18L, 17L), "own version: " + fc.value());
    check(fc.value().equals(PersonCanon.decodeEnvelope(cur).value()), "own version as the generated decoder reads it");
    check(Arrays.equals(fc.value().toFramed(ownId), cur), "own version re-encodes to the same bytes");
    System.out.println("ok own envelope");

    String m = failure(dec, new byte[] {0, 0, 1, (byte) 0x86, (byte) 0x9f, 0});  // id 99999
    check(m != null && m.contains("schema id 99999") && m.contains("HTTP 404"), "unknown id: " + m);
    m = failure(PersonCanon.envelopeDecoder("http://127.0.0.1:1"), old);
    check(m != null && m.contains("schema id " + legacyId) && m.contains("unreachable"), "registry unreachable: " + m);
    m = failure(dec, new byte[] {0, (byte) (badId >>> 24), (byte) (badId >>> 16), (byte) (badId >>> 8), (byte) badId, 2});
    check(m != null && m.contains("schema id " + badId) && m.contains("cannot be resolved against the binding's canon.person-value schema")
        && m.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "not resolvable: " + m);
    m = failure(dec, Arrays.copyOf(old, old.length - 3));
    check(m != null && m.contains("schema id " + legacyId) && m.contains("EOFException"), "truncated legacy value: " + m);
    m = failure(dec, Arrays.copyOf(old, old.length + 1));
    check(m != null && m.contains("schema id " + legacyId) && m.contains("trailing"), "trailing byte: " + m);
    m = failure(dec, new byte[] {1, 0, 0, 0, 1});
    check(m != null && m.contains("not a Confluent-framed"), "bad magic byte: " + m);
    boolean threw = false;
    try {
      PersonCanon.consumer(new java.util.Properties(), (String) null);
    } catch (IllegalArgumentException e) {
      threw = e.getMessage().contains("no registry URL");
    }
    check(threw, "no registry URL and none built in");
    System.out.println("ok errors");

    // Counts and lengths the input cannot hold are refused before Avro allocates for them
    // (its reader made an array of the count first: Integer.MAX_VALUE - 8 references, an
    // OutOfMemoryError, not an IOException).
    long huge = Integer.MAX_VALUE - 8;
    m = failure(dec, counted(legacy, legacyId, huge, false));
    check(m != null && m.contains("schema id " + legacyId) && m.contains("block count " + huge + " exceeds the 0 bytes left"),
        "huge array count: " + m);
    m = failure(dec, counted(legacy, legacyId, huge, true));
    check(m != null && m.contains("schema id " + legacyId) && m.contains("block count " + huge + " exceeds the 0 bytes left"),
        "huge map count: " + m);
    byte[] longKey = Arrays.copyOf(old, 5 + 5);
    ByteArrayOutputStream lk = new ByteArrayOutputStream();
    BinaryEncoder lke = EncoderFactory.get().binaryEncoder(lk, null);
    lke.writeLong(huge);
    lke.flush();
    System.arraycopy(lk.toByteArray(), 0, longKey, 5, lk.size());
    m = failure(dec, Arrays.copyOf(longKey, 5 + lk.size()));
    check(m != null && m.contains("schema id " + legacyId) && m.contains("EOFException"), "huge string length: " + m);
    m = failure(dec, counted(legacy, legacyId, -3, false));
    check(m != null && m.contains("schema id " + legacyId), "negative count: " + m);
    // the limits leave a value that holds what it counts alone
    check(same(dec.decode(old).value(), -1, -1L, -1L, -1L), "legacy envelope after the refusals");
    System.out.println("ok limits");

    // One decoder shared by threads, first use racing: both versions, every time.
    RegistryDecoder<PersonEnvelope> shared = PersonCanon.envelopeDecoder(url);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<Boolean>> done = new ArrayList<>();
    for (int t = 0; t < 4; t++)
      done.add(pool.submit(() -> {
        for (int i = 0; i < 200; i++) {
          if (!same(shared.decode(old).value(), -1, -1L, -1L, -1L)) return false;
          if (!same(shared.decode(cur).value(), 2, 19L, 18L, 17L)) return false;
        }
        return true;
      }));
    for (Future<Boolean> d : done) check(d.get(), "concurrent decodes");
    pool.shutdown();
    System.out.println("ok threads");
  }
}
