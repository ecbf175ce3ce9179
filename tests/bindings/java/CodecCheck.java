/*
 * CodecCheck - the binary codec of a Java binding under failure and hostile input, on the
 * schema HOSTILE of test_java_codec.py (test.codec.Hostile).
 *
 * Usage: java -Xmx256m CodecCheck encode. Prints "ok <name>" or "FAIL <name>: why"
 * per case and goes on; exits 0 (the test reads the lines).
 *
 * encode: an encode that throws half-way (a decimal too precise for the schema, a null in
 * a field that is not nullable) must not leave bytes behind for the next encode on the
 * thread (RecordCodec reuses a per-thread encoder).
 */
import java.io.IOException;
import java.math.BigDecimal;
import java.util.HexFormat;
import java.util.List;
import test.codec.E;
import test.codec.Hostile;

public final class CodecCheck {
  private CodecCheck() {}

  private static Hostile good() {
    return Hostile.newBuilder().setI(7).setNulls(List.of()).setEmpties(List.of()).setLongs(List.of(1L, 2L))
        .setS("text").setB(java.nio.ByteBuffer.wrap(new byte[] {1, 2})).setM(java.util.Map.of()).setE(E.B)
        .setU("u").setPrice(new BigDecimal("1.50")).setD(java.time.LocalDate.of(2024, 1, 2)).setNext(null).build();
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

  public static void main(String[] args) throws IOException {
    if (args[0].equals("encode")) encodeChecks();
  }
}
