/*
 * Bench - the Java binding against Apache Avro's SpecificDatumWriter/Reader on the same
 * 20-field record (bench/codegen/customer.avsc), in one run, on one thread. Both sides
 * reuse what a careful user reuses (writer/reader, encoder/decoder, output buffer); the
 * figures are records per second, best of several rounds that alternate between the
 * contenders. Usage: java Bench [seconds per measurement, default 1].
 */
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import bench.canon.Address;
import bench.canon.Customer;
import bench.canon.CustomerStatus;
import bench.canon.Sha256;

public final class Bench {
  private Bench() {}

  static Customer make(Random r, int i) {
    Map<String, String> attrs = new LinkedHashMap<>();
    attrs.put("segment", "smb");
    attrs.put("region", "eu-west-" + (i % 3));
    byte[] sum = new byte[32];
    r.nextBytes(sum);
    byte[] notes = new byte[24];
    r.nextBytes(notes);
    return Customer.newBuilder()
        .setCustomerId(new UUID(r.nextLong(), r.nextLong()))
        .setGivenName("Ada" + i)
        .setFamilyName("Lovelace")
        .setEmail("ada" + i + "@example.org")
        .setPhone("+44 20 7946 " + (1000 + i % 9000))
        .setCreatedAt(Instant.ofEpochMilli(1700000000000L + i))
        .setUpdatedAt(Instant.ofEpochSecond(1700000000L, 123456000L))
        .setBirthDate(LocalDate.of(1815, 12, 10))
        .setStatus(CustomerStatus.ACTIVE)
        .setLoyaltyPoints(r.nextInt(100000))
        .setScore(r.nextDouble() * 100)
        .setVerified(true)
        .setTags(List.of("vip", "newsletter", "beta"))
        .setAttributes(attrs)
        .setAddress(Address.newBuilder().setStreet("12 St James's Square").setCity("London").setPostalCode("SW1Y 4JH").setCountry("GB").build())
        .setAvatarSha256(new Sha256(sum))
        .setNotes(ByteBuffer.wrap(notes))
        .setPreferredChannel(i % 2 == 0 ? "email" : (Object) Integer.valueOf(3))
        .setAccountManagerId(new UUID(r.nextLong(), r.nextLong()))
        .setRegion("eu")
        .build();
  }

  interface Op {
    long run(int rounds) throws Exception;
  }

  static double rate(int n, Op op) throws Exception {
    long t0 = System.nanoTime();
    long sink = op.run(n);
    long t1 = System.nanoTime();
    if (sink == 42) System.out.print("");
    return n / ((t1 - t0) / 1e9);
  }

  public static void main(String[] args) throws Exception {
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
    Random rnd = new Random(1);
    Customer[] recs = new Customer[1024];
    for (int i = 0; i < recs.length; i++) recs[i] = make(rnd, i);
    byte[][] enc = new byte[recs.length][];
    long total = 0;
    for (int i = 0; i < recs.length; i++) {
      enc[i] = recs[i].toByteArray();
      total += enc[i].length;
    }

    SpecificDatumWriter<Customer> w = new SpecificDatumWriter<>(Customer.class);
    SpecificDatumReader<Customer> rd = new SpecificDatumReader<>(Customer.class);
    ByteArrayOutputStream bos = new ByteArrayOutputStream(512);
    BinaryEncoder[] e = {null};
    BinaryDecoder[] d = {null};
    // Same bytes both ways before timing anything.
    for (int i = 0; i < recs.length; i++) {
      bos.reset();
      e[0] = EncoderFactory.get().binaryEncoder(bos, e[0]);
      w.write(recs[i], e[0]);
      e[0].flush();
      if (!Arrays.equals(bos.toByteArray(), enc[i])) throw new AssertionError("bytes differ at " + i);
      d[0] = DecoderFactory.get().binaryDecoder(enc[i], d[0]);
      if (!rd.read(null, d[0]).equals(Customer.fromByteArray(enc[i]))) throw new AssertionError("decode differs at " + i);
    }

    Op avroEncOp = m -> {
      long s = 0;
      for (int i = 0; i < m; i++) {
        bos.reset();
        e[0] = EncoderFactory.get().binaryEncoder(bos, e[0]);
        w.write(recs[i & 1023], e[0]);
        e[0].flush();
        s += bos.toByteArray().length;
      }
      return s;
    };
    Op bindEncOp = m -> {
      long s = 0;
      for (int i = 0; i < m; i++) s += recs[i & 1023].toByteArray().length;
      return s;
    };
    Op avroDecOp = m -> {
      long s = 0;
      for (int i = 0; i < m; i++) {
        d[0] = DecoderFactory.get().binaryDecoder(enc[i & 1023], d[0]);
        s += rd.read(null, d[0]).getLoyaltyPoints();
      }
      return s;
    };
    Op bindDecOp = m -> {
      long s = 0;
      for (int i = 0; i < m; i++) s += Customer.fromByteArray(enc[i & 1023]).getLoyaltyPoints();
      return s;
    };
    Op[] ops = {avroEncOp, bindEncOp, avroDecOp, bindDecOp};
    double[] best = new double[ops.length];
    int[] n = new int[ops.length];
    for (int j = 0; j < ops.length; j++) {
      // Warm-up, then size a round to about a seventh of the measurement time.
      ops[j].run(20_000);
      double r = rate(50_000, ops[j]);
      n[j] = (int) Math.max(10_000, r * seconds / 7);
    }
    // Rounds alternate between the contenders, so a busy machine slows both alike; the
    // best round of each counts.
    for (int k = 0; k < 7; k++) {
      for (int j = 0; j < ops.length; j++) best[j] = Math.max(best[j], rate(n[j], ops[j]));
    }
    double avroEnc = best[0], bindEnc = best[1], avroDec = best[2], bindDec = best[3];
    System.out.printf("%-34s %14.0f %14.0f%n", "Java binding (canon gen)", bindEnc, bindDec);
    System.out.printf("%-34s %14.0f %14.0f%n", "Avro Java 1.12 SpecificDatum*", avroEnc, avroDec);
    System.out.printf("%-34s %13.2fx %13.2fx%n", "Java binding / Avro Java", bindEnc / avroEnc, bindDec / avroDec);
    System.out.printf("%-34s %14s %14s  (%d bytes per record on average)%n", "target (issue 4)", ">= 1x", ">= 1x", total / recs.length);
  }
}
