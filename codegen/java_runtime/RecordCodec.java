package canongate.runtime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.Decoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.Encoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecordBase;

/**
 * Avro binary codec of one generated record class, shared by all its instances.
 *
 * <p>The class's generated encode()/decode() do the Avro work; this adds whole-buffer
 * entry points, Confluent framing and per-thread reuse of encoders, decoders and buffers,
 * so an encode allocates only its result. No SpecificDatumReader is involved, so Avro
 * 1.12's SERIALIZABLE_PACKAGES check never applies (see docs/bindings-java.md).
 *
 * @param <T> the generated record class
 */
public final class RecordCodec<T extends SpecificRecordBase> {
  /** Confluent framing: magic byte 0 then a 4-byte big-endian schema id. */
  public static final int FRAME_HEADER = 5;

  private final Writer<T> writer;
  private final Reader<T> reader;
  private final ThreadLocal<State> state = ThreadLocal.withInitial(State::new);

  private static final class State {
    final Buffer buf = new Buffer();
    BinaryEncoder enc;
    BinaryDecoder dec;
  }

  /** A ByteArrayOutputStream whose bytes can be reset without reallocation. */
  private static final class Buffer extends ByteArrayOutputStream {
    Buffer() {
      super(256);
    }
  }

  /**
   * Writes one record.
   *
   * @param <T> the record class
   */
  @FunctionalInterface
  public interface Writer<T> {
    /**
     * Writes value to out.
     *
     * @param value the record
     * @param out the encoder
     * @throws IOException from out
     */
    void write(T value, Encoder out) throws IOException;
  }

  /**
   * Reads one record.
   *
   * @param <T> the record class
   */
  @FunctionalInterface
  public interface Reader<T> {
    /**
     * Reads a record from in.
     *
     * @param in the decoder
     * @return the record
     * @throws IOException when the input is malformed
     */
    T read(Decoder in) throws IOException;
  }

  /**
   * A codec over a class's generated encode and decode.
   *
   * @param writer the class's encode
   * @param reader the class's decode
   */
  public RecordCodec(Writer<T> writer, Reader<T> reader) {
    this.writer = writer;
    this.reader = reader;
  }

  /**
   * The Avro binary encoding of value.
   *
   * @param value the record
   * @return a new array
   */
  public byte[] encode(T value) {
    return encodeWith(value, null);
  }

  /**
   * The Confluent-framed encoding of value.
   *
   * @param value the record
   * @param schemaId the registry id to put in the frame
   * @return a new array
   */
  public byte[] encodeFramed(T value, int schemaId) {
    byte[] header = {
      0, (byte) (schemaId >>> 24), (byte) (schemaId >>> 16), (byte) (schemaId >>> 8), (byte) schemaId
    };
    return encodeWith(value, header);
  }

  private byte[] encodeWith(T value, byte[] header) {
    State s = state.get();
    s.buf.reset();
    if (header != null) s.buf.write(header, 0, header.length);
    boolean written = false;
    try {
      s.enc = EncoderFactory.get().binaryEncoder(s.buf, s.enc);
      writer.write(value, s.enc);
      s.enc.flush();
      written = true;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      // A write that threw (a decimal too precise for its schema, a null in a field that
      // is not nullable) leaves the bytes it buffered in the encoder, and reusing the
      // encoder would flush them ahead of the next record: drop it instead.
      if (!written) s.enc = null;
    }
    return s.buf.toByteArray();
  }

  /**
   * Decodes a whole Avro binary encoding.
   *
   * @param bytes the encoding, nothing before or after
   * @return a new record
   * @throws IOException when the bytes are not one record of the schema
   */
  public T decode(byte[] bytes) throws IOException {
    return decodeRange(bytes, 0, bytes.length);
  }

  /**
   * Decodes a Confluent-framed message.
   *
   * @param bytes magic byte, schema id, Avro binary
   * @return the record and the frame's schema id
   * @throws IOException when the frame or the body is malformed
   */
  public Framed<T> decodeFramed(byte[] bytes) throws IOException {
    int id = frameSchemaId(bytes);
    return new Framed<>(id, decodeRange(bytes, FRAME_HEADER, bytes.length - FRAME_HEADER));
  }

  /**
   * The schema id of a Confluent frame.
   *
   * @param bytes magic byte, schema id, Avro binary
   * @return the id
   * @throws IOException when bytes do not start with a frame header
   */
  public static int frameSchemaId(byte[] bytes) throws IOException {
    if (bytes.length < FRAME_HEADER || bytes[0] != 0)
      throw new IOException("not a Confluent-framed Avro message (magic byte 0 and a 4-byte id)");
    return ((bytes[1] & 0xff) << 24) | ((bytes[2] & 0xff) << 16) | ((bytes[3] & 0xff) << 8) | (bytes[4] & 0xff);
  }

  private T decodeRange(byte[] bytes, int off, int len) throws IOException {
    State s = state.get();
    s.dec = DecoderFactory.get().binaryDecoder(bytes, off, len, s.dec);
    T value;
    try {
      value = reader.read(s.dec);
    } catch (java.io.EOFException e) {
      // Avro's carries no message: say what it means
      throw new IOException("truncated Avro binary: the " + len + " bytes end inside the value", e);
    } catch (RuntimeException e) {
      throw new IOException("malformed Avro binary: " + e, e);
    }
    if (!s.dec.isEnd()) throw new IOException("trailing bytes after the encoded value");
    return value;
  }
}
