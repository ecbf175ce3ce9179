/*
 * RefCheck - checks a generated Java binding against Apache Avro Java itself.
 *
 * Usage: java RefCheck <binding root class> <schema.avsc>, hex lines (the binding's
 * encodings) on stdin; prints "ok" or "FAIL: ..." per line. For each encoding:
 *  - Avro's SpecificDatumReader decodes it to the same datum as the binding does
 *    (SpecificRecordBase.equals: maps compared as maps);
 *  - Avro's SpecificDatumWriter writes the binding's datum to the same bytes as the
 *    binding's own encoder (same datum object, so map order is the same);
 *  - Avro's GenericDatumReader on the schema file decodes it completely, and
 *    GenericDatumWriter re-encodes that datum to bytes that decode to an equal datum
 *    (byte-identical when the schema has no map, whose order HashMap changes).
 * Avro 1.12's SERIALIZABLE_PACKAGES property is deliberately not set: the binding must
 * work without it.
 */
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStreamReader;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecordBase;

public final class RefCheck {
  private RefCheck() {}

  private static byte[] unhex(String s) {
    byte[] b = new byte[s.length() / 2];
    for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
    return b;
  }

  private static boolean hasMap(Schema s, java.util.Set<String> seen) {
    switch (s.getType()) {
      case MAP:
        return true;
      case ARRAY:
        return hasMap(s.getElementType(), seen);
      case UNION:
        for (Schema b : s.getTypes()) if (hasMap(b, seen)) return true;
        return false;
      case RECORD:
        if (!seen.add(s.getFullName())) return false;
        for (Schema.Field f : s.getFields()) if (hasMap(f.schema(), seen)) return true;
        return false;
      default:
        return false;
    }
  }

  public static void main(String[] args) throws Exception {
    Class<?> cls = Class.forName(args[0]);
    Schema specSchema = (Schema) cls.getField("SCHEMA$").get(null);
    String text = java.nio.file.Files.readString(new File(args[1]).toPath());
    // Avro's generic reader itself fails on java-class strings (it tries to build the
    // class); for such schemas the generic check uses the class's SCHEMA$, which is the
    // same schema without those properties.
    Schema fileSchema = text.contains("java-class") || text.contains("java-key-class")
        ? specSchema : new Schema.Parser().parse(text);
    Method fromBytes = cls.getMethod("fromByteArray", byte[].class);
    Method toBytes = cls.getMethod("toByteArray");
    boolean maps = hasMap(fileSchema, new java.util.HashSet<>());
    SpecificDatumReader<Object> sr = new SpecificDatumReader<>(specSchema);
    SpecificDatumWriter<Object> sw = new SpecificDatumWriter<>(specSchema);
    GenericDatumReader<Object> gr = new GenericDatumReader<>(fileSchema);
    GenericDatumWriter<Object> gw = new GenericDatumWriter<>(fileSchema);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      try {
        byte[] bytes = unhex(line.trim());
        BinaryDecoder d = DecoderFactory.get().binaryDecoder(bytes, null);
        Object spec = sr.read(null, d);
        if (!d.isEnd()) throw new AssertionError("SpecificDatumReader left bytes");
        SpecificRecordBase mine = (SpecificRecordBase) fromBytes.invoke(null, (Object) bytes);
        if (!mine.equals(spec)) throw new AssertionError("Avro Java decodes " + spec + ", the binding " + mine);
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        BinaryEncoder e = EncoderFactory.get().binaryEncoder(o, null);
        sw.write(mine, e);
        e.flush();
        byte[] mineBytes = (byte[]) toBytes.invoke(mine);
        if (!Arrays.equals(o.toByteArray(), mineBytes)) throw new AssertionError("SpecificDatumWriter writes other bytes");
        if (!maps && !Arrays.equals(mineBytes, bytes)) throw new AssertionError("re-encoding changed the bytes");
        d = DecoderFactory.get().binaryDecoder(bytes, null);
        Object gen = gr.read(null, d);
        if (!d.isEnd()) throw new AssertionError("GenericDatumReader left bytes");
        o.reset();
        e = EncoderFactory.get().binaryEncoder(o, null);
        gw.write(gen, e);
        e.flush();
        if (!maps && !Arrays.equals(o.toByteArray(), bytes)) throw new AssertionError("GenericDatumWriter writes other bytes");
        Object gen2 = gr.read(null, DecoderFactory.get().binaryDecoder(o.toByteArray(), null));
        if (!java.util.Objects.equals(gen, gen2)) throw new AssertionError("generic round trip differs");
        System.out.println("ok");
      } catch (Throwable t) {
        Throwable c = t instanceof java.lang.reflect.InvocationTargetException ? t.getCause() : t;
        System.out.println("FAIL: " + String.valueOf(c).replace('\n', ' '));
        c.printStackTrace();
      }
    }
  }
}
