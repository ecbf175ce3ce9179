/*
 * CodecCheck - the binary codec of a Java binding under failure and hostile input, on the
 * schema HOSTILE of test_java_codec.py (test.codec.Hostile).
 *
 * Usage: java -Xmx256m CodecCheck encode|ints|hostile. Prints "ok <name>" or "FAIL <name>: why"
 * per case and goes on; exits 0 (the test reads the lines).
 *
 * encode: an encode that throws half-way (a decimal too precise for the schema, a null in
 * a field that is not nullable) must not leave bytes behind for the next encode on the
 * thread (RecordCodec reuses a per-thread encoder).
 *
 * ints: an int, enum index or union index whose varint does not fit 32 bits is a decode
 * error (Avro's readInt keeps the low 32 bits: 2^31 read as 0).
 *
 * hostile: each input must fail with IOException, within 3 s and without an Error
 * (OutOfMemoryError, StackOverflowError): counts and lengths no input could back, and
 * records nested more than 512 deep (Wire.MAX_DEPTH, as the C and Python bindings), while
 * 512 decode.
 */
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.util.HexFormat;
import java.util.List;
import test.codec.E;
import test.codec.Hostile;

public final class CodecCheck {
  private CodecCheck() {}

  /** An Avro long: zig-zag, then base-128 little-endian. */
  private static byte[] varint(long n) {
    long z = (n << 1) ^ (n >> 63);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    while ((z & ~0x7fL) != 0) {
      out.write((int) ((z & 0x7f) | 0x80));
      z >>>= 7;
    }
    out.write((int) z);
    return out.toByteArray();
  }

  private static byte[] cat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) out.write(p, 0, p.length);
    return out.toByteArray();
  }

  private static byte[] hex(String h) {
    return HexFormat.of().parseHex(h);
  }

  /**
   * A Hostile record with one field's encoding replaced: i, nulls, empties, longs, s, b, m,
   * e, u, price, d, nn, flag, next (the schema's order). Every other field is its shortest value.
   */
  private static byte[] rec(String field, byte[] value) {
    String[] names = {"i", "nulls", "empties", "longs", "s", "b", "m", "e", "u", "price", "d", "nn", "flag", "next"};
    String[] plain = {"00", "00", "00", "00", "00", "00", "00", "00", "00", "0200", "00", "00", "00", "00"};
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    boolean found = false;
    for (int k = 0; k < names.length; k++) {
      byte[] v = names[k].equals(field) ? value : hex(plain[k]);
      found |= names[k].equals(field);
      out.write(v, 0, v.length);
    }
    if (!found) throw new IllegalArgumentException(field);
    return out.toByteArray();
  }

  private static Hostile good() {
    return Hostile.newBuilder().setI(7).setNulls(List.of()).setEmpties(List.of()).setLongs(List.of(1L, 2L))
        .setS("text").setB(java.nio.ByteBuffer.wrap(new byte[] {1, 2})).setM(java.util.Map.of()).setE(E.B)
        .setU("u").setPrice(new BigDecimal("1.50")).setD(java.time.LocalDate.of(2024, 1, 2)).setNn(List.of()).setFlag(true).setNext(null).build();
  }

  private static void encodeChecks() throws IOException {
    byte[] fresh = good().toByteArray();
    byte[] freshFramed = good().toFramed(7);
    Hostile tooPrecise = good();
    tooPrecise.setPrice(new BigDecimal("123456789012.34"));
    Hostile nullString = good();
    nullString.setS(null);
    Object[][] bad = {{"decimal too precise", tooPrecise}, {"null string", nullString}};
    for (Object[] c : bad) {
      Hostile h = (Hostile) c[1];
      boolean threw = false;
      try {
        h.toByteArray();
      } catch (RuntimeException e) {
        threw = true;
      }
      byte[] again = good().toByteArray();
      boolean threwFramed = false;
      try {
        h.toFramed(7);
      } catch (RuntimeException e) {
        threwFramed = true;
      }
      byte[] againFramed = good().toFramed(7);
      if (!threw || !threwFramed) System.out.println("FAIL " + c[0] + ": the encode did not throw");
      else if (!java.util.Arrays.equals(again, fresh))
        System.out.println("FAIL " + c[0] + ": next encode " + HexFormat.of().formatHex(again) + ", want "
            + HexFormat.of().formatHex(fresh));
      else if (!java.util.Arrays.equals(againFramed, freshFramed))
        System.out.println("FAIL " + c[0] + ": next framed encode " + HexFormat.of().formatHex(againFramed));
      else if (!Hostile.fromByteArray(again).equals(good()))
        System.out.println("FAIL " + c[0] + ": next encode does not decode to the record");
      else System.out.println("ok " + c[0]);
    }
  }

  /** Decodes input, which must fail with IOException in bounded time. */
  private static void hostile(String name, byte[] input) {
    hostile(name, input, "");
  }

  /** Decodes input, which must fail with an IOException saying why, in bounded time. */
  private static void hostile(String name, byte[] input, String why) {
    long t0 = System.nanoTime();
    String result;
    try {
      Hostile h = Hostile.fromByteArray(input);
      result = "FAIL " + name + ": decoded to " + h;
    } catch (IOException e) {
      result = String.valueOf(e.getMessage()).contains(why) ? "ok " + name
          : "FAIL " + name + ": " + e.getMessage();
    } catch (Throwable e) {
      result = "FAIL " + name + ": " + e;
    }
    long ms = (System.nanoTime() - t0) / 1_000_000;
    if (result.startsWith("ok") && ms > 3000) result = "FAIL " + name + ": took " + ms + " ms";
    System.out.println(result.length() > 300 ? result.substring(0, 300) : result);
  }

  private static void intChecks() {
    // ints: 2^31 and -2^31-1 (what a 64-bit writer gives), and varints with bits past 32
    // (0x82 80 80 80 10 is 2 + 2^32: a 32-bit reader that drops the high bits sees 2).
    byte[] over = hex("8280808010");
    hostile("int 2^31", rec("i", varint(1L << 31)));
    hostile("int -2^31-1", rec("i", varint(-(1L << 31) - 1)));
    hostile("int with bits past 32", rec("i", over));
    hostile("date 2^31", rec("d", varint(1L << 31)));
    hostile("enum index with bits past 32", rec("e", over));
    hostile("union index with bits past 32", rec("u", cat(over, varint(5))));
    hostile("union index 2^32+1", rec("u", cat(varint((1L << 32) + 1), varint(5))));
    accept("int -2^31", rec("i", varint(Integer.MIN_VALUE)), 0);
    accept("int 2^31-1", rec("i", varint(Integer.MAX_VALUE)), 0);
    accept("enum index 2", rec("e", varint(2)), 0);
  }

  private static void hostileChecks() {
    byte[] end = varint(0);
    // counts no input could back
    hostile("1e8 nulls", rec("nulls", cat(varint(100_000_000L), end)));
    hostile("2^31-100 nulls", rec("nulls", cat(varint((1L << 31) - 100), end)));
    hostile("2^40 nulls", rec("nulls", cat(varint(1L << 40), end)));
    hostile("65537 nulls", rec("nulls", cat(varint(65537), end)));
    byte[] blocks = new byte[0];
    for (int k = 0; k < 3; k++) blocks = cat(blocks, varint(60000));
    hostile("180000 nulls in 3 blocks", rec("nulls", cat(blocks, end)));
    hostile("1e8 nulls, negative count", rec("nulls", cat(varint(-100_000_000L), varint(0), end)));
    hostile("1e8 empty records", rec("empties", cat(varint(100_000_000L), end)));
    hostile("1e8 longs", rec("longs", cat(varint(100_000_000L), end)));
    hostile("1e8 map entries", rec("m", cat(varint(100_000_000L), end)));
    hostile("2^31-100 map entries", rec("m", cat(varint((1L << 31) - 100), end)));
    // four bytes per inner array of 65536 nulls: at most 1048576 such items per value
    hostile("17 arrays of 65536 nulls", rec("nn", innerArrays(17)));
    hostile("1000 arrays of 65536 nulls", rec("nn", innerArrays(1000)));
    // lengths beyond the input
    hostile("string of 2e9 bytes", rec("s", varint(2_000_000_000L)));
    hostile("bytes of 2e9 bytes", rec("b", varint(2_000_000_000L)));
    hostile("decimal of 2e9 bytes", rec("price", varint(2_000_000_000L)));
    hostile("string of 2^40 bytes", rec("s", varint(1L << 40)));
    hostile("map key of 2e9 bytes", rec("m", cat(varint(1), varint(2_000_000_000L))));
    hostile("string of -1 bytes", rec("s", varint(-1)));
    // nesting: next is ["null", Hostile]; every level is a record then branch 1
    byte[] level = rec("next", varint(1));
    int depth = 1_000_000 / level.length;
    ByteArrayOutputStream deep = new ByteArrayOutputStream();
    for (int k = 0; k < depth; k++) deep.write(level, 0, level.length);
    deep.write(rec("next", varint(0)), 0, rec("next", varint(0)).length);
    hostile("nested " + depth + " deep", deep.toByteArray());
    hostile("513 records deep", chain(level, 513), "records nested more than 512 deep");
    // a boolean is one byte, 0 or 1 (Avro Java read any other as false; C and Python refuse)
    hostile("boolean byte 2", rec("flag", hex("02")), "boolean byte 2 is neither 0 nor 1");
    hostile("boolean byte 255", rec("flag", hex("ff")), "boolean byte 255 is neither 0 nor 1");
    // input that ends inside the value says so (Avro's EOFException has no message)
    byte[] whole = good().toByteArray();
    hostile("cut short", java.util.Arrays.copyOf(whole, whole.length - 1), "truncated Avro binary");
    // and what is within the limits still decodes
    accept("65536 nulls", rec("nulls", cat(varint(65536), end)), 65536);
    accept("65536 nulls in 2 blocks", rec("nulls", cat(varint(65000), varint(-536), varint(0), end)), 65536);
    byte[] longs = new byte[300];
    accept("300 longs", rec("longs", cat(varint(300), longs, end)), 300);
    accept("16 arrays of 65536 nulls", rec("nn", innerArrays(16)), 0);
    accept("string of 3 bytes", rec("s", cat(varint(3), hex("616263"))), 0);
    ByteArrayOutputStream nested = new ByteArrayOutputStream();
    for (int k = 0; k < 200; k++) nested.write(level, 0, level.length);
    nested.write(rec("next", varint(0)), 0, rec("next", varint(0)).length);
    accept("nested 200 deep", nested.toByteArray(), 0);
    accept("512 records deep", chain(level, 512), 0);
    accept("boolean byte 1", rec("flag", hex("01")), 0);
  }

  /** n records, each the next of the one before (level: a record with next = branch 1). */
  private static byte[] chain(byte[] level, int n) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int k = 1; k < n; k++) out.write(level, 0, level.length);
    byte[] last = rec("next", varint(0));
    out.write(last, 0, last.length);
    return out.toByteArray();
  }

  /** An array of n arrays of 65536 nulls, each in one block. */
  private static byte[] innerArrays(int n) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] inner = cat(varint(65536), varint(0));
    out.write(varint(n), 0, varint(n).length);
    for (int k = 0; k < n; k++) out.write(inner, 0, inner.length);
    out.write(0);
    return out.toByteArray();
  }

  /** Decodes input, which must give a record with this many nulls and longs. */
  private static void accept(String name, byte[] input, int nulls) {
    try {
      Hostile h = Hostile.fromByteArray(input);
      if (h.getNulls().size() + h.getLongs().size() != nulls)
        System.out.println("FAIL " + name + ": " + h.getNulls().size() + " items");
      else if (!java.util.Arrays.equals(h.toByteArray(), input) && !name.contains("blocks"))
        System.out.println("FAIL " + name + ": re-encodes to other bytes");
      else System.out.println("ok " + name);
    } catch (Throwable e) {
      System.out.println("FAIL " + name + ": " + e);
    }
  }

  public static void main(String[] args) throws IOException {
    // Load and link the classes first, so that the first timed case times the decode only.
    Hostile.fromByteArray(good().toByteArray());
    if (args[0].equals("encode")) encodeChecks();
    else if (args[0].equals("ints")) intChecks();
    else hostileChecks();
  }
}
