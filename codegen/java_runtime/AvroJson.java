package canongate.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/**
 * Avro's JSON encoding, to and from Avro binary, driven by a schema.
 *
 * <p>Written out rather than taken from Avro's JsonEncoder/JsonDecoder because the canon
 * wire contract (docs/wire.md) spells non-finite floats as the strings "NaN", "Infinity"
 * and "-Infinity", which Avro Java's JSON decoder refuses. Everything else follows the
 * specification: unions as {"branch": value} (null bare), bytes and fixed as strings of
 * code points 0-255, enums as symbols, logical types as their underlying type.
 */
public final class AvroJson {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private AvroJson() {}

  /**
   * Encodes a JSON datum of schema to Avro binary.
   *
   * @param schema the datum's schema
   * @param json the datum in Avro JSON
   * @return the Avro binary encoding
   * @throws IOException when json is not a datum of schema (the message says where)
   */
  public static byte[] fromJson(Schema schema, String json) throws IOException {
    JsonNode node;
    try {
      node = MAPPER.readTree(json);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException("not JSON: " + e.getOriginalMessage(), e);
    }
    if (node == null) throw new IOException("no JSON value");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
    write(schema, node, enc, "$");
    enc.flush();
    return out.toByteArray();
  }

  private static IOException bad(String path, Schema s, JsonNode n) {
    String text = n.toString();
    if (text.length() > 60) text = text.substring(0, 60) + "...";
    return new IOException(path + ": " + text + " is not a " + s.getType().getName());
  }

  private static double floating(Schema s, JsonNode n, String path) throws IOException {
    if (n.isNumber()) return n.doubleValue();
    if (n.isTextual()) {
      switch (n.textValue()) {
        case "NaN":
          return Double.NaN;
        case "Infinity":
          return Double.POSITIVE_INFINITY;
        case "-Infinity":
          return Double.NEGATIVE_INFINITY;
        default:
          break;
      }
    }
    throw bad(path, s, n);
  }

  private static byte[] latin1(Schema s, JsonNode n, String path) throws IOException {
    if (!n.isTextual()) throw bad(path, s, n);
    String t = n.textValue();
    byte[] b = new byte[t.length()];
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c > 0xff) throw new IOException(path + ": bytes as JSON hold code points 0-255 only");
      b[i] = (byte) c;
    }
    return b;
  }

  private static void write(Schema s, JsonNode n, BinaryEncoder out, String path) throws IOException {
    switch (s.getType()) {
      case NULL:
        if (!n.isNull()) throw bad(path, s, n);
        return;
      case BOOLEAN:
        if (!n.isBoolean()) throw bad(path, s, n);
        out.writeBoolean(n.booleanValue());
        return;
      case INT:
        if (!n.isIntegralNumber() || !n.canConvertToInt()) throw bad(path, s, n);
        out.writeInt(n.intValue());
        return;
      case LONG:
        if (!n.isIntegralNumber() || !n.canConvertToLong()) throw bad(path, s, n);
        out.writeLong(n.longValue());
        return;
      case FLOAT:
        out.writeFloat((float) floating(s, n, path));
        return;
      case DOUBLE:
        out.writeDouble(floating(s, n, path));
        return;
      case STRING:
        if (!n.isTextual()) throw bad(path, s, n);
        out.writeString(n.textValue());
        return;
      case BYTES:
        out.writeBytes(latin1(s, n, path));
        return;
      case FIXED:
        {
          byte[] b = latin1(s, n, path);
          if (b.length != s.getFixedSize())
            throw new IOException(path + ": fixed " + s.getFullName() + " holds " + s.getFixedSize() + " bytes, not " + b.length);
          out.writeFixed(b);
          return;
        }
      case ENUM:
        {
          if (!n.isTextual() || !s.hasEnumSymbol(n.textValue())) throw bad(path, s, n);
          out.writeEnum(s.getEnumOrdinal(n.textValue()));
          return;
        }
      case ARRAY:
        {
          if (!n.isArray()) throw bad(path, s, n);
          out.writeArrayStart();
          out.setItemCount(n.size());
          int i = 0;
          for (JsonNode item : n) {
            out.startItem();
            write(s.getElementType(), item, out, path + "[" + i++ + "]");
          }
          out.writeArrayEnd();
          return;
        }
      case MAP:
        {
          if (!n.isObject()) throw bad(path, s, n);
          out.writeMapStart();
          out.setItemCount(n.size());
          for (Map.Entry<String, JsonNode> e : n.properties()) {
            out.startItem();
            out.writeString(e.getKey());
            write(s.getValueType(), e.getValue(), out, path + "." + e.getKey());
          }
          out.writeMapEnd();
          return;
        }
      case UNION:
        writeUnion(s, n, out, path);
        return;
      case RECORD:
        {
          if (!n.isObject()) throw bad(path, s, n);
          for (Schema.Field f : s.getFields()) {
            JsonNode v = n.get(f.name());
            if (v == null) {
              if (!f.hasDefaultValue()) throw new IOException(path + ": missing field " + f.name());
              Object d = GenericData.get().getDefaultValue(f);
              new GenericDatumWriter<Object>(f.schema(), GenericData.get()).write(d, out);
            } else {
              write(f.schema(), v, out, path + "." + f.name());
            }
          }
          return;
        }
    }
    throw new IOException(path + ": unsupported type " + s.getType());
  }

  private static String branchName(Schema b) {
    switch (b.getType()) {
      case RECORD:
      case ENUM:
      case FIXED:
        return b.getFullName();
      default:
        return b.getType().getName();
    }
  }

  private static void writeUnion(Schema s, JsonNode n, BinaryEncoder out, String path) throws IOException {
    List<Schema> branches = s.getTypes();
    if (n.isNull()) {
      for (int i = 0; i < branches.size(); i++) {
        if (branches.get(i).getType() == Schema.Type.NULL) {
          out.writeIndex(i);
          return;
        }
      }
      throw new IOException(path + ": null is not a branch of the union");
    }
    if (n.isObject() && n.size() == 1) {
      Map.Entry<String, JsonNode> e = n.properties().iterator().next();
      for (int i = 0; i < branches.size(); i++) {
        Schema b = branches.get(i);
        String name = branchName(b);
        if (name.equals(e.getKey()) || isNamed(b) && b.getName().equals(e.getKey())) {
          out.writeIndex(i);
          write(b, e.getValue(), out, path + "<" + name + ">");
          return;
        }
      }
    }
    // Not the specification's {"branch": value}: accept a bare value (as some tools
    // write it) when a branch takes it, trying branches in order.
    for (int i = 0; i < branches.size(); i++) {
      ByteArrayOutputStream scratch = new ByteArrayOutputStream();
      BinaryEncoder enc = EncoderFactory.get().binaryEncoder(scratch, null);
      try {
        write(branches.get(i), n, enc, path);
        enc.flush();
      } catch (IOException notThisBranch) {
        continue;
      }
      out.writeIndex(i);
      byte[] b = scratch.toByteArray();
      out.writeFixed(b, 0, b.length);
      return;
    }
    throw new IOException(path + ": no branch of the union takes " + n + " (write {\"<branch>\": value})");
  }

  private static boolean isNamed(Schema b) {
    return b.getType() == Schema.Type.RECORD || b.getType() == Schema.Type.ENUM || b.getType() == Schema.Type.FIXED;
  }

  /**
   * Decodes Avro binary of schema to its JSON encoding.
   *
   * @param schema the datum's schema
   * @param bytes the whole Avro binary encoding
   * @return one line of JSON
   */
  public static String toJson(Schema schema, byte[] bytes) {
    StringBuilder sb = new StringBuilder(bytes.length * 2 + 16);
    BinaryDecoder in = DecoderFactory.get().binaryDecoder(bytes, null);
    try {
      read(schema, in, sb);
    } catch (IOException e) {
      throw new IllegalStateException("binary encoding does not match the schema: " + e, e);
    }
    return sb.toString();
  }

  private static void quote(StringBuilder sb, CharSequence s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          sb.append("\\\"");
          break;
        case '\\':
          sb.append("\\\\");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case '\r':
          sb.append("\\r");
          break;
        case '\t':
          sb.append("\\t");
          break;
        default:
          if (c < 0x20 || c == 0x7f) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
      }
    }
    sb.append('"');
  }

  private static void latin1(StringBuilder sb, byte[] b) {
    StringBuilder t = new StringBuilder(b.length);
    for (byte x : b) t.append((char) (x & 0xff));
    sb.append('"');
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c == '"') sb.append("\\\"");
      else if (c == '\\') sb.append("\\\\");
      else if (c < 0x20 || c >= 0x7f) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    sb.append('"');
  }

  private static void number(StringBuilder sb, double d) {
    if (Double.isNaN(d)) sb.append("\"NaN\"");
    else if (Double.isInfinite(d)) sb.append(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else sb.append(d);
  }

  private static void read(Schema s, BinaryDecoder in, StringBuilder sb) throws IOException {
    switch (s.getType()) {
      case NULL:
        in.readNull();
        sb.append("null");
        return;
      case BOOLEAN:
        sb.append(Wire.readBoolean(in));
        return;
      case INT:
        sb.append(Wire.readInt(in));
        return;
      case LONG:
        sb.append(in.readLong());
        return;
      case FLOAT:
        number(sb, in.readFloat());
        return;
      case DOUBLE:
        number(sb, in.readDouble());
        return;
      case STRING:
        quote(sb, in.readString());
        return;
      case BYTES:
        {
          java.nio.ByteBuffer bb = in.readBytes(null);
          byte[] b = new byte[bb.remaining()];
          bb.get(b);
          latin1(sb, b);
          return;
        }
      case FIXED:
        {
          byte[] b = new byte[s.getFixedSize()];
          in.readFixed(b);
          latin1(sb, b);
          return;
        }
      case ENUM:
        {
          int i = Wire.readEnum(in);
          if (i < 0 || i >= s.getEnumSymbols().size()) throw new IOException("enum index " + i + " out of range");
          quote(sb, s.getEnumSymbols().get(i));
          return;
        }
      case ARRAY:
        {
          sb.append('[');
          boolean first = true;
          for (long n = in.readArrayStart(); n != 0; n = in.arrayNext()) {
            for (long i = 0; i < n; i++) {
              if (!first) sb.append(", ");
              first = false;
              read(s.getElementType(), in, sb);
            }
          }
          sb.append(']');
          return;
        }
      case MAP:
        {
          sb.append('{');
          boolean first = true;
          for (long n = in.readMapStart(); n != 0; n = in.mapNext()) {
            for (long i = 0; i < n; i++) {
              if (!first) sb.append(", ");
              first = false;
              quote(sb, in.readString());
              sb.append(": ");
              read(s.getValueType(), in, sb);
            }
          }
          sb.append('}');
          return;
        }
      case UNION:
        {
          int i = Wire.readIndex(in);
          if (i < 0 || i >= s.getTypes().size()) throw new IOException("union index " + i + " out of range");
          Schema b = s.getTypes().get(i);
          if (b.getType() == Schema.Type.NULL) {
            sb.append("null");
            return;
          }
          sb.append('{');
          quote(sb, branchName(b));
          sb.append(": ");
          read(b, in, sb);
          sb.append('}');
          return;
        }
      case RECORD:
        {
          sb.append('{');
          boolean first = true;
          for (Schema.Field f : s.getFields()) {
            if (!first) sb.append(", ");
            first = false;
            quote(sb, f.name());
            sb.append(": ");
            read(f.schema(), in, sb);
          }
          sb.append('}');
          return;
        }
    }
    throw new IOException("unsupported type " + s.getType());
  }
}
