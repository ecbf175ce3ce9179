// AvroJavaDecode - the Apache Avro Java reference decoder of the cross-language tests.
//
//     java -cp AVRO_CLASSPATH:. AvroJavaDecode SCHEMA.avsc < hex-lines > avro-json-lines
//
// Decodes each hex line with Avro Java's GenericDatumReader (no code of ours) and prints
// the datum in Avro's JSON encoding, one a line: unions as {"branch": value} with the
// branch Avro Java's GenericData.resolveUnion picks for the decoded value, bytes and
// fixed as strings of code points 0-255, non-finite floats as "NaN", "Infinity",
// "-Infinity". The printing is ours rather than Avro's JsonEncoder because that one loses
// the sign of a float -0.0 (through Jackson), which a byte-exact comparison must see.
// A line that does not decode, or leaves bytes over, prints "error: ..." and the program
// goes on.
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

public final class AvroJavaDecode {
    private AvroJavaDecode() {}

    private static void str(StringBuilder sb, String s, boolean bytes) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        sb.append('"');
    }

    private static String latin1(byte[] b) {
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    private static void real(StringBuilder sb, double d, String text) {
        if (Double.isNaN(d)) {
            sb.append("\"NaN\"");
        } else if (Double.isInfinite(d)) {
            sb.append(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        } else {
            sb.append(text);
        }
    }

    private static void value(StringBuilder sb, Schema s, Object v) {
        switch (s.getType()) {
            case NULL:
                sb.append("null");
                break;
            case BOOLEAN:
            case INT:
            case LONG:
                sb.append(v.toString());
                break;
            case FLOAT:
                real(sb, (Float) v, Float.toString((Float) v));
                break;
            case DOUBLE:
                real(sb, (Double) v, Double.toString((Double) v));
                break;
            case BYTES: {
                ByteBuffer bb = ((ByteBuffer) v).duplicate();
                byte[] b = new byte[bb.remaining()];
                bb.get(b);
                str(sb, latin1(b), true);
                break;
            }
            case FIXED:
                str(sb, latin1(((GenericFixed) v).bytes()), true);
                break;
            case STRING:
            case ENUM:
                str(sb, v.toString(), false);
                break;
            case RECORD: {
                GenericRecord r = (GenericRecord) v;
                sb.append('{');
                boolean first = true;
                for (Schema.Field f : s.getFields()) {
                    if (!first) sb.append(", ");
                    first = false;
                    str(sb, f.name(), false);
                    sb.append(": ");
                    value(sb, f.schema(), r.get(f.pos()));
                }
                sb.append('}');
                break;
            }
            case ARRAY: {
                sb.append('[');
                boolean first = true;
                for (Object e : (Collection<?>) v) {
                    if (!first) sb.append(", ");
                    first = false;
                    value(sb, s.getElementType(), e);
                }
                sb.append(']');
                break;
            }
            case MAP: {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) sb.append(", ");
                    first = false;
                    str(sb, e.getKey().toString(), false);
                    sb.append(": ");
                    value(sb, s.getValueType(), e.getValue());
                }
                sb.append('}');
                break;
            }
            case UNION: {
                int i = GenericData.get().resolveUnion(s, v);
                Schema b = s.getTypes().get(i);
                if (b.getType() == Schema.Type.NULL) {
                    sb.append("null");
                    break;
                }
                sb.append('{');
                str(sb, b.getFullName(), false);
                sb.append(": ");
                value(sb, b, v);
                sb.append('}');
                break;
            }
            default:
                throw new IllegalStateException("unknown type " + s.getType());
        }
    }

    private static void decodeAll(Schema schema, BufferedReader in, PrintStream out)
            throws java.io.IOException {
        GenericDatumReader<Object> reader = new GenericDatumReader<>(schema);
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            try {
                byte[] bytes = new byte[line.length() / 2];
                for (int i = 0; i < bytes.length; i++)
                    bytes[i] = (byte) Integer.parseInt(line.substring(2 * i, 2 * i + 2), 16);
                BinaryDecoder dec = DecoderFactory.get().binaryDecoder(bytes, null);
                Object datum = reader.read(null, dec);
                if (!dec.isEnd()) {
                    out.println("error: trailing bytes");
                    continue;
                }
                StringBuilder sb = new StringBuilder();
                value(sb, schema, datum);
                out.println(sb);
            } catch (Exception e) {
                out.println("error: " + e.toString().replace("\n", " "));
            }
        }
    }

    // AvroJavaDecode SCHEMA.avsc < hex-lines, or, to pay for one JVM start only,
    // AvroJavaDecode --batch < lines of "SCHEMA.avsc<TAB>IN.hex<TAB>OUT.jsonl".
    public static void main(String[] args) throws Exception {
        BufferedReader stdin =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        if (args.length == 1 && args[0].equals("--batch")) {
            String job;
            while ((job = stdin.readLine()) != null) {
                String[] p = job.split("\t");
                Schema schema = new Schema.Parser().parse(new File(p[0]));
                try (BufferedReader in = java.nio.file.Files.newBufferedReader(
                                java.nio.file.Paths.get(p[1]), StandardCharsets.UTF_8);
                        PrintStream out = new PrintStream(new java.io.FileOutputStream(p[2]),
                                false, StandardCharsets.UTF_8)) {
                    decodeAll(schema, in, out);
                }
            }
            return;
        }
        Schema schema = new Schema.Parser().parse(new File(args[0]));
        decodeAll(schema, stdin, new PrintStream(System.out, true, StandardCharsets.UTF_8));
    }
}
