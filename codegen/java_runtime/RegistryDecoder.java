package canongate.runtime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/**
 * Decodes Confluent-framed values written with any schema the registry has under the
 * frame's id, as long as Avro can resolve it against the binding's own (reader) schema:
 * how a consumer reads a canon topic across envelope versions.
 *
 * <p>The writer schema of each id is fetched once (GET /schemas/ids/{id}) and kept. When
 * its Parsing Canonical Form is the reader's, the bytes are the binding's own and go to the
 * generated decoder as they are. Otherwise Apache Avro's resolution reads them
 * ({@code GenericDatumReader(writer, reader)}: fields the writer lacks take the reader's
 * defaults, fields the reader lacks are skipped, promotions and aliases apply), the result
 * is written in the reader schema ({@code GenericDatumWriter}) and decoded by the generated
 * decoder. Only generic readers and writers are used, so Avro 1.12's SERIALIZABLE_PACKAGES
 * check never applies (docs/bindings-java.md).
 *
 * <p>Thread-safe: the per-id cache is concurrent and buffers are per thread. A failed
 * registry call is not cached (the next value with that id asks again).
 *
 * @param <T> the generated record class
 */
public final class RegistryDecoder<T> implements CanonConsumer.FramedDecoder<T> {
  private final RegistryClient registry;
  private final Schema reader;
  private final String readerForm;
  private final CanonConsumer.FramedDecoder<T> framed;
  private final BodyDecoder<T> body;
  private final String what;
  /** Per schema id: empty when the writer schema is the reader's, else how to resolve it. */
  private final Map<Integer, Optional<Writer>> writers = new ConcurrentHashMap<>();
  private final ThreadLocal<State> state = ThreadLocal.withInitial(State::new);

  /** A writer schema other than the reader's, with the Avro objects that resolve it. */
  private static final class Writer {
    final Schema schema;
    final GenericDatumReader<Object> read;
    final GenericDatumWriter<Object> write;
    /** The fewest bytes a value of each type in the writer schema encodes to. */
    final Map<Schema, Integer> min = new IdentityHashMap<>();

    Writer(Schema writer, Schema reader) {
      this.schema = writer;
      this.read = new GenericDatumReader<>(writer, reader, GenericData.get());
      this.write = new GenericDatumWriter<>(reader, GenericData.get());
      minSize(writer);
    }

    /** Fills min for s and the types it holds; a record met again inside itself counts 0. */
    private int minSize(Schema s) {
      Integer known = min.get(s);
      if (known != null) return known;
      int n;
      switch (s.getType()) {
        case NULL:
          n = 0;
          break;
        case FLOAT:
          n = 4;
          break;
        case DOUBLE:
          n = 8;
          break;
        case FIXED:
          n = s.getFixedSize();
          break;
        case RECORD:
          min.put(s, 0);
          long sum = 0;
          for (Schema.Field f : s.getFields()) sum += minSize(f.schema());
          n = (int) Math.min(sum, Integer.MAX_VALUE);
          break;
        case UNION:
          for (Schema b : s.getTypes()) minSize(b);
          n = 1;
          break;
        case ARRAY:
          minSize(s.getElementType());
          n = 1;
          break;
        case MAP:
          minSize(s.getValueType());
          n = 1;
          break;
        default: // boolean, int, long, string, bytes, enum: at least one byte
          n = 1;
      }
      min.put(s, n);
      return n;
    }

    /** Reads over one value of s, building nothing, with the generated decoders' limits. */
    void skim(Schema s, BinaryDecoder in, long[] e) throws IOException {
      switch (s.getType()) {
        case NULL:
          return;
        case BOOLEAN:
          Wire.readBoolean(in);
          return;
        case INT:
          in.readInt();
          return;
        case LONG:
          in.readLong();
          return;
        case FLOAT:
          in.readFloat();
          return;
        case DOUBLE:
          in.readDouble();
          return;
        case STRING:
        case BYTES:
          skipLength(in, s.getType() == Schema.Type.STRING ? "string" : "bytes");
          return;
        case FIXED:
          in.skipFixed(s.getFixedSize());
          return;
        case ENUM: {
          int i = in.readEnum();
          if (i < 0 || i >= s.getEnumSymbols().size())
            throw new IOException("enum index " + i + " out of range for " + s.getFullName());
          return;
        }
        case UNION: {
          int i = in.readIndex();
          if (i < 0 || i >= s.getTypes().size()) throw new IOException("union index " + i + " out of range");
          skim(s.getTypes().get(i), in, e);
          return;
        }
        case RECORD:
          Wire.enter(e);
          for (Schema.Field f : s.getFields()) skim(f.schema(), in, e);
          e[1]--;
          return;
        case ARRAY: {
          Schema item = s.getElementType();
          int m = min.get(item);
          long have = 0;
          for (long n = Wire.block(in, in.readArrayStart(), m, have, e); n != 0;
              n = Wire.block(in, in.arrayNext(), m, have, e)) {
            for (long i = 0; i < n; i++) skim(item, in, e);
            have += n;
          }
          return;
        }
        case MAP: {
          Schema value = s.getValueType();
          int m = (int) Math.min(1L + min.get(value), Integer.MAX_VALUE); // the key's length
          long have = 0;
          for (long n = Wire.block(in, in.readMapStart(), m, have, e); n != 0;
              n = Wire.block(in, in.mapNext(), m, have, e)) {
            for (long i = 0; i < n; i++) {
              skipLength(in, "map key");
              skim(value, in, e);
            }
            have += n;
          }
          return;
        }
        default:
          throw new IOException("unexpected type " + s.getType());
      }
    }

    /** A string's or bytes' length, then its bytes: past the input is an EOFException. */
    private static void skipLength(BinaryDecoder in, String what) throws IOException {
      long n = in.readLong();
      if (n < 0 || n > Integer.MAX_VALUE) throw new IOException(what + " length " + n + " is out of range");
      in.skipFixed((int) n);
    }
  }

  private static final class State {
    final ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
    BinaryDecoder dec;
    BinaryEncoder enc;
  }

  /**
   * Decodes a whole Avro binary encoding in the reader schema.
   *
   * @param <T> the record class
   */
  @FunctionalInterface
  public interface BodyDecoder<T> {
    /**
     * Decodes.
     *
     * @param bytes the Avro binary encoding, nothing before or after
     * @return the record
     * @throws IOException when the bytes are malformed
     */
    T decode(byte[] bytes) throws IOException;
  }

  /**
   * A decoder resolving against reader.
   *
   * @param registryUrl the registry holding the writer schemas, e.g. "http://127.0.0.1:8081"
   * @param reader the binding's schema (the generated class's SCHEMA$)
   * @param what the reader schema's name in error messages, e.g. its subject
   * @param framed the generated decoder of framed values in the reader schema
   * @param body the generated decoder of unframed values in the reader schema
   */
  public RegistryDecoder(
      String registryUrl, Schema reader, String what, CanonConsumer.FramedDecoder<T> framed, BodyDecoder<T> body) {
    this.registry = new RegistryClient(registryUrl);
    this.reader = reader;
    this.readerForm = SchemaNormalization.toParsingForm(reader);
    this.what = what;
    this.framed = framed;
    this.body = body;
  }

  /**
   * Decodes a framed value, resolving its writer schema against the reader's.
   *
   * @param bytes magic byte, schema id, Avro binary
   * @return the record and the frame's schema id
   * @throws IOException when the frame is malformed, the registry is unreachable or does
   *     not know the id, the schemas do not resolve, or the body does not decode; the
   *     message names the schema id
   */
  @Override
  public Framed<T> decode(byte[] bytes) throws IOException {
    int id = RecordCodec.frameSchemaId(bytes);
    Writer w = writer(id);
    if (w == null) return framed.decode(bytes);
    State s = state.get();
    int len = bytes.length - RecordCodec.FRAME_HEADER;
    s.buf.reset();
    try {
      s.dec = DecoderFactory.get().binaryDecoder(bytes, RecordCodec.FRAME_HEADER, len, s.dec);
      w.skim(w.schema, s.dec, new long[2]);
      if (!s.dec.isEnd()) throw new IOException("trailing bytes after the encoded value");
      s.dec = DecoderFactory.get().binaryDecoder(bytes, RecordCodec.FRAME_HEADER, len, s.dec);
      Object datum = w.read.read(null, s.dec);
      if (!s.dec.isEnd()) throw new IOException("trailing bytes after the encoded value");
      s.enc = EncoderFactory.get().binaryEncoder(s.buf, s.enc);
      w.write.write(datum, s.enc);
      s.enc.flush();
    } catch (IOException | RuntimeException | StackOverflowError e) {
      s.enc = null;  // it may hold bytes of the failed write (see RecordCodec.encodeWith)
      String why = e.getMessage() != null ? e.getMessage() : e.getClass().getName();  // EOFException has none
      throw new IOException("schema id " + id + ": value does not decode with the writer schema resolved against "
          + what + ": " + why, e);
    }
    return new Framed<>(id, body.decode(s.buf.toByteArray()));
  }

  /** null when id's schema is the reader's; fetched and kept on first use. */
  private Writer writer(int id) throws IOException {
    Optional<Writer> known = writers.get(id);
    if (known != null) return known.orElse(null);
    String text;
    try {
      text = registry.schemaById(id);
    } catch (IOException e) {
      throw new SchemaFetchException("schema id " + id + ": cannot get the writer schema: " + e.getMessage(), e);
    }
    Schema ws;
    try {
      ws = new Schema.Parser().parse(text);
    } catch (RuntimeException e) {
      throw new IOException("schema id " + id + ": the registry's schema does not parse: " + e.getMessage(), e);
    }
    Optional<Writer> w = Optional.empty();
    if (!SchemaNormalization.toParsingForm(ws).equals(readerForm)) {
      SchemaCompatibility.SchemaCompatibilityResult c =
          SchemaCompatibility.checkReaderWriterCompatibility(reader, ws).getResult();
      if (c.getCompatibility() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
        StringBuilder why = new StringBuilder();
        for (SchemaCompatibility.Incompatibility i : c.getIncompatibilities())
          why.append(why.length() > 0 ? "; " : "").append(i.getType()).append(" at ").append(i.getLocation())
              .append(": ").append(i.getMessage());
        throw new IOException("schema id " + id + ": the writer schema cannot be resolved against " + what + ": " + why);
      }
      w = Optional.of(new Writer(ws, reader));
    }
    writers.putIfAbsent(id, w);
    return w.orElse(null);
  }
}
