/*
 * EntityCheck - exercises the entity layer of the Java binding of tests/vectors/person.avsc
 * (org.canongate.canon.Person): the update builder, the envelope decoder, the producer's
 * record (key, framing, murmur2 partition) and the registry id look-up.
 *
 * Usage: java EntityCheck <registry url of a fake registry answering id 42>. Every check
 * is decoded with Apache Avro Java's GenericDatumReader on the derived schema text, not
 * with the binding itself. Prints "ok <name>" per check; exits 1 on the first failure.
 */
import canongate.runtime.CanonProducer;
import canongate.runtime.Framed;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.canongate.canon.EmploymentStatus;
import org.canongate.canon.Person;
import org.canongate.canon.PersonCanon;
import org.canongate.canon.PersonEnvelope;
import org.canongate.canon.PersonUpdate;
import org.canongate.canon.PostalAddress;

public final class EntityCheck {
  private EntityCheck() {}

  private static void check(boolean cond, String what) {
    if (!cond) {
      System.out.println("FAIL " + what);
      System.exit(1);
    }
  }

  private static GenericRecord generic(Schema s, byte[] framed, int id) throws Exception {
    check(framed[0] == 0, "magic byte");
    int got = ((framed[1] & 0xff) << 24) | ((framed[2] & 0xff) << 16) | ((framed[3] & 0xff) << 8) | (framed[4] & 0xff);
    check(got == id, "schema id in frame: " + got);
    return (GenericRecord) new GenericDatumReader<Object>(s)
        .read(null, DecoderFactory.get().binaryDecoder(framed, 5, framed.length - 5, null));
  }

  public static void main(String[] args) throws Exception {
    Schema upd = new Schema.Parser().parse(PersonCanon.UPDATE_SCHEMA);
    Schema env = new Schema.Parser().parse(PersonCanon.ENVELOPE_SCHEMA);
    check(SchemaNormalization.toParsingForm(upd).equals(SchemaNormalization.toParsingForm(PersonUpdate.SCHEMA$)), "PersonUpdate.SCHEMA$ is the derived update schema");
    check(SchemaNormalization.toParsingForm(env).equals(SchemaNormalization.toParsingForm(PersonEnvelope.SCHEMA$)), "PersonEnvelope.SCHEMA$ is the derived envelope schema");
    check(PersonCanon.UPDATES_TOPIC.equals("canon.person.updates") && PersonCanon.CANON_TOPIC.equals("canon.person")
        && PersonCanon.UPDATES_SUBJECT.equals("canon.person.updates-value"), "topic and subject names");
    System.out.println("ok schemas");

    UUID id = UUID.fromString("123e4567-e89b-12d3-a456-426614174000");
    Instant t = Instant.ofEpochMilli(1700000000123L);
    // Set two fields and clear one, in an order other than the schema's.
    PersonUpdate u = PersonCanon.update(id).source("crm").eventTime(t).seq(7)
        .setEmail("ada@example.org").clearPhone().setGivenName("Ada").build();
    GenericRecord g = generic(upd, u.toFramed(1234), 1234);
    check(g.get("person_id").toString().equals(id.toString()), "key");
    check(g.get("source").toString().equals("crm"), "source");
    check(((Long) g.get("event_time")) == 1700000000123L, "event_time");
    check(((Long) g.get("seq")) == 7L, "seq");
    check(g.get("op").toString().equals("UPSERT"), "op");
    check(g.get("provided").toString().equals("[email, phone, given_name]"), "provided in the order first touched: " + g.get("provided"));
    GenericRecord v = (GenericRecord) g.get("values");
    check(v.get("given_name").toString().equals("Ada") && v.get("email").toString().equals("ada@example.org"), "set values");
    check(v.get("phone") == null && v.get("family_name") == null, "cleared and untouched values are null");
    System.out.println("ok update builder");

    PersonUpdate d = PersonCanon.update(id).source("hr").eventTime(t).setEmail("x@y").delete().build();
    GenericRecord gd = generic(upd, d.toFramed(5), 5);
    check(gd.get("op").toString().equals("DELETE"), "delete op");
    check(((List<?>) gd.get("provided")).isEmpty() && ((GenericRecord) gd.get("values")).get("email") == null, "delete carries no values");
    boolean threw = false;
    try {
      PersonCanon.update(id).eventTime(t).build();
    } catch (IllegalStateException e) {
      threw = true;
    }
    check(threw, "source is required");
    System.out.println("ok delete");

    // An envelope written by Avro Java's GenericDatumWriter, decoded by the binding.
    GenericRecord ge = new GenericData.Record(env);
    ge.put("key", id.toString());
    ge.put("version", 3L);
    ge.put("op", new GenericData.EnumSymbol(env.getField("op").schema(), "UPDATE"));
    Schema personSchema = env.getField("before").schema().getTypes().get(1);
    GenericRecord p = new GenericData.Record(personSchema);
    for (Schema.Field f : personSchema.getFields()) if (f.hasDefaultValue()) p.put(f.name(), GenericData.get().getDefaultValue(f));
    p.put("person_id", id.toString());
    p.put("given_name", "Ada");
    p.put("tags", new GenericData.Array<Object>(personSchema.getField("tags").schema(), List.of("vip")));
    ge.put("before", null);
    ge.put("after", p);
    ge.put("changed", new GenericData.Array<Object>(env.getField("changed").schema(), List.of("given_name")));
    Schema fv = env.getField("provenance").schema().getValueType();
    GenericRecord ver = new GenericData.Record(fv);
    ver.put("source", "hr");
    ver.put("event_time", 1700000000123L);
    ver.put("seq", 1L);
    ver.put("partition", 2);  // the update message that set given_name
    ver.put("offset", 17L);
    ge.put("provenance", Map.of("given_name", ver));
    GenericRecord del = new GenericData.Record(fv);  // an earlier delete, kept
    del.put("source", "crm");
    del.put("event_time", 1600000000000L);
    del.put("seq", 0L);
    del.put("partition", 0);
    del.put("offset", 5L);
    ge.put("deleted", del);
    GenericRecord cause = new GenericData.Record(env.getField("cause").schema());
    cause.put("topic", "canon.person.updates");
    cause.put("partition", 2);
    cause.put("offset", 99L);
    ge.put("cause", cause);
    ByteArrayOutputStream bo = new ByteArrayOutputStream();
    bo.write(new byte[] {0, 0, 0, 0, 77});
    BinaryEncoder be = EncoderFactory.get().binaryEncoder(bo, null);
    new GenericDatumWriter<Object>(env).write(ge, be);
    be.flush();
    Framed<PersonEnvelope> fe = PersonCanon.decodeEnvelope(bo.toByteArray());
    PersonEnvelope e = fe.value();
    check(fe.schemaId() == 77, "envelope schema id");
    check(e.getKey().equals(id) && e.getVersion() == 3L && e.getOp() == canongate.ChangeOp.UPDATE, "envelope header");
    check(e.getBefore() == null, "before");
    canongate.FieldVersion dv = e.getDeleted();
    check(dv != null && dv.getSource().equals("crm") && dv.getSeq() == 0L
        && dv.getPartition() == 0 && dv.getOffset() == 5L, "deleted");
    Person after = e.getAfter();
    check(after.getGivenName().equals("Ada") && after.getFamilyName() == null && after.getTags().equals(List.of("vip")), "after is a Person");
    check(e.getChanged().equals(List.of("given_name")), "changed");
    canongate.FieldVersion gv = e.getProvenance().get("given_name");
    check(gv.getSource().equals("hr") && gv.getEventTime().equals(t) && gv.getSeq() == 1L, "provenance");
    check(gv.getPartition() == 2 && gv.getOffset() == 17L, "provenance partition and offset");
    // the schema's defaults: -1, unknown
    canongate.FieldVersion nv = canongate.FieldVersion.newBuilder().setSource("x").setEventTime(t).setSeq(0L).build();
    check(nv.getPartition() == -1 && nv.getOffset() == -1L, "FieldVersion partition and offset default to -1");
    check(e.getCause().getPartition() == 2 && e.getCause().getOffset() == 99L, "cause");
    check(Arrays.equals(e.toFramed(77), bo.toByteArray()), "envelope re-encodes to the same bytes");
    System.out.println("ok envelope");

    // Producer helper: key, framed value; murmur2 partition as Kafka's default partitioner.
    Properties props = new Properties();
    props.put("bootstrap.servers", "127.0.0.1:1");
    try (CanonProducer<PersonUpdate> prod = PersonCanon.producer(props, 1234)) {
      ProducerRecord<byte[], byte[]> r = prod.record(u);
      check(r.topic().equals("canon.person.updates"), "producer topic");
      check(new String(r.key(), StandardCharsets.UTF_8).equals(id.toString()), "producer key");
      check(Arrays.equals(r.value(), u.toFramed(1234)), "producer value");
      check(r.partition() == null, "partition left to the default (murmur2) partitioner");
    }
    // Kafka's own murmur2 vectors (clients/src/test/.../UtilsTest.java).
    check(org.apache.kafka.common.utils.Utils.murmur2("21".getBytes(StandardCharsets.UTF_8)) == -973932308, "murmur2 vector");
    check(CanonProducer.partitionFor("21", 12) == (-973932308 & 0x7fffffff) % 12, "partitionFor");
    System.out.println("ok producer");

    check(PersonCanon.updateSchemaId(args[0]) == 42, "registry id look-up");
    System.out.println("ok registry");

    Person pr = Person.newBuilder().setPersonId(id).setTags(List.of()).setEmploymentStatus(EmploymentStatus.ACTIVE)
        .setAddress(PostalAddress.newBuilder().setCity("London").build()).build();
    check(pr.getGivenName() == null && pr.getAddress().getStreet() == null, "builder defaults");
    check(Person.fromJson(pr.toJson()).equals(pr), "JSON round trip");
    check(Person.fromByteArray(pr.toByteArray()).equals(pr), "binary round trip");
    System.out.println("ok builders");
  }
}
