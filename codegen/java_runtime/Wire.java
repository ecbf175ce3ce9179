package canongate.runtime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.Decoder;
import org.apache.avro.io.DecoderFactory;

/**
 * What the generated encode()/decode() methods share: Avro Java's own logical-type
 * conversions (so that a binding writes exactly the bytes SpecificDatumWriter writes) and
 * the checks that keep hostile input from crashing a decoder.
 */
public final class Wire {
  private Wire() {}

  /** date. */
  public static final TimeConversions.DateConversion DATE = new TimeConversions.DateConversion();
  /** time-millis. */
  public static final TimeConversions.TimeMillisConversion TIME_MILLIS = new TimeConversions.TimeMillisConversion();
  /** time-micros. */
  public static final TimeConversions.TimeMicrosConversion TIME_MICROS = new TimeConversions.TimeMicrosConversion();
  /** timestamp-millis. */
  public static final TimeConversions.TimestampMillisConversion TIMESTAMP_MILLIS = new TimeConversions.TimestampMillisConversion();
  /** timestamp-micros. */
  public static final TimeConversions.TimestampMicrosConversion TIMESTAMP_MICROS = new TimeConversions.TimestampMicrosConversion();
  /** timestamp-nanos. */
  public static final TimeConversions.TimestampNanosConversion TIMESTAMP_NANOS = new TimeConversions.TimestampNanosConversion();
  /** local-timestamp-millis. */
  public static final TimeConversions.LocalTimestampMillisConversion LOCAL_TIMESTAMP_MILLIS = new TimeConversions.LocalTimestampMillisConversion();
  /** local-timestamp-micros. */
  public static final TimeConversions.LocalTimestampMicrosConversion LOCAL_TIMESTAMP_MICROS = new TimeConversions.LocalTimestampMicrosConversion();
  /** local-timestamp-nanos. */
  public static final TimeConversions.LocalTimestampNanosConversion LOCAL_TIMESTAMP_NANOS = new TimeConversions.LocalTimestampNanosConversion();
  /** uuid. */
  public static final Conversions.UUIDConversion UUID = new Conversions.UUIDConversion();
  /** decimal. */
  public static final Conversions.DecimalConversion DECIMAL = new Conversions.DecimalConversion();

  /**
   * Items of a type that encodes to no bytes (null, a record of such fields, fixed(0)) have
   * no input to bound their count: one array or map of them holds at most this many, over
   * all its blocks, as in the C binding (CANON_MAX_EMPTY_ITEMS).
   */
  public static final int MAX_EMPTY_ITEMS = 65536;

  /**
   * And one value, over all its arrays and maps, holds at most this many (16 arrays at their
   * limit), as in the C binding (CANON_MAX_EMPTY_TOTAL): an array of arrays of null costs
   * two bytes per inner array, so the limit per array alone let a few bytes ask for 65,536
   * items each.
   */
  public static final int MAX_EMPTY_TOTAL = 1048576;

  /**
   * Records nest at most this deep in one value, as in the C and Python bindings: a few
   * bytes per level of a recursive schema would otherwise reach the end of the thread's
   * stack.
   */
  public static final int MAX_DEPTH = 512;

  /**
   * Enters a record of the value whose decode state is e (e[1]: the records open); the
   * generated decode leaves it with e[1]--.
   *
   * @param e the value's decode state (e[0]: see {@link #block}; e[1]: depth)
   * @throws IOException past {@link #MAX_DEPTH}
   */
  public static void enter(long[] e) throws IOException {
    if (++e[1] > MAX_DEPTH)
      throw new IOException("records nested more than " + MAX_DEPTH + " deep");
  }

  /** The class of the input of a BinaryDecoder over a byte array, whose size is known. */
  private static final Class<?> ARRAY_SOURCE = DecoderFactory.get().binaryDecoder(new byte[1], null).inputStream().getClass();

  /**
   * The bytes left in the input of in, when it is a BinaryDecoder over a byte array (what
   * fromByteArray and fromFramed decode with); -1 for any other Decoder, whose input may
   * be a stream of unknown length.
   */
  private static long left(Decoder in) throws IOException {
    if (!(in instanceof BinaryDecoder)) return -1;
    java.io.InputStream src = ((BinaryDecoder) in).inputStream();
    return src.getClass() == ARRAY_SOURCE ? src.available() : -1;
  }

  /**
   * Checks the item count of an array or map block against what the input can hold,
   * before anything is allocated for the items: an item that encodes to at least minSize
   * bytes takes that many of the bytes left; items that encode to none are limited to
   * {@link #MAX_EMPTY_ITEMS} per array or map and {@link #MAX_EMPTY_TOTAL} per value.
   * Without the check a count of 10^8 in five bytes made the decoder add 10^8 nulls.
   *
   * @param in the decoder, just after the block's count
   * @param count the count (readArrayStart, arrayNext, readMapStart or mapNext)
   * @param minSize the fewest bytes one item encodes to (0 when it may encode to none)
   * @param have the items of the earlier blocks of the same array or map
   * @param e e[0]: the value's items that encode to no bytes so far, counted here
   * @return count
   * @throws IOException when the input cannot hold count more items
   */
  public static long block(Decoder in, long count, int minSize, long have, long[] e)
      throws IOException {
    if (count < 0) throw new IOException("negative block count");
    if (minSize == 0) {
      if (count > MAX_EMPTY_ITEMS - have)
        throw new IOException("more than " + MAX_EMPTY_ITEMS + " items that encode to no bytes");
      if (count > MAX_EMPTY_TOTAL - e[0])
        throw new IOException(
            "more than " + MAX_EMPTY_TOTAL + " items that encode to no bytes in one value");
      e[0] += count;
      return count;
    }
    long left = left(in);
    if (left >= 0 && count > left / minSize)
      throw new IOException("block count " + count + " exceeds the " + left + " bytes left");
    return count;
  }

  /** The length of a string or bytes, checked against the bytes left before allocation. */
  private static int length(long n, long left, String what) throws IOException {
    if (n < 0) throw new IOException(what + " length " + n + " is negative");
    if (n > left) throw new IOException(what + " length " + n + " exceeds the " + left + " bytes left");
    return (int) n;
  }

  /**
   * Reads a string. On a BinaryDecoder over a byte array its length is checked against the
   * bytes left before the bytes are allocated (Avro's readString allocates first: a length
   * of 2*10^9 in a 10-byte input ran out of memory); the text is decoded as Avro's is.
   *
   * @param in the decoder
   * @return the string
   * @throws IOException when the length is negative or beyond the input
   */
  public static String readString(Decoder in) throws IOException {
    long left = left(in);
    if (left < 0) return in.readString();
    int n = length(in.readLong(), left - 1, "string");
    if (n == 0) return "";
    byte[] b = new byte[n];
    in.readFixed(b, 0, n);
    return new String(b, 0, n, StandardCharsets.UTF_8);
  }

  /**
   * Reads bytes, with the length checked as {@link #readString} checks it.
   *
   * @param in the decoder
   * @return a new buffer, position 0, limit and capacity the length
   * @throws IOException when the length is negative or beyond the input
   */
  public static ByteBuffer readBytes(Decoder in) throws IOException {
    long left = left(in);
    if (left < 0) return in.readBytes(null);
    int n = length(in.readLong(), left - 1, "bytes");
    byte[] b = new byte[n];
    in.readFixed(b, 0, n);
    return ByteBuffer.wrap(b);
  }

  /**
   * Reads a null (nothing on the wire).
   *
   * @param in the decoder
   * @return null
   * @throws IOException never in practice
   */
  public static Void readNull(Decoder in) throws IOException {
    in.readNull();
    return null;
  }

  /**
   * Reads an Avro int. On a BinaryDecoder the varint is read as a long and must fit 32
   * bits: Avro's own readInt keeps the low 32 bits of a longer one, so 2^31 (which a
   * 64-bit writer may put in an int field) would read as 0. Another Decoder (JSON,
   * resolving) is asked for an int as usual.
   *
   * @param in the decoder
   * @return the value
   * @throws IOException when the value does not fit 32 bits or the input ends early
   */
  public static int readInt(Decoder in) throws IOException {
    if (!(in instanceof BinaryDecoder)) return in.readInt();
    return int32(in.readLong(), "int");
  }

  /** One byte of boolean input per thread (readFixed needs an array). */
  private static final ThreadLocal<byte[]> ONE_BYTE = ThreadLocal.withInitial(() -> new byte[1]);

  /**
   * Reads an Avro boolean. On a BinaryDecoder the byte must be 0 or 1, as the C and Python
   * bindings require: Avro's own readBoolean reads any other byte as false. Another Decoder
   * (JSON, resolving) is asked for a boolean as usual.
   *
   * @param in the decoder
   * @return the value
   * @throws IOException when the byte is neither 0 nor 1 or the input ends early
   */
  public static boolean readBoolean(Decoder in) throws IOException {
    if (!(in instanceof BinaryDecoder)) return in.readBoolean();
    byte[] b = ONE_BYTE.get();
    in.readFixed(b, 0, 1);
    if ((b[0] & 0xfe) != 0) throw new IOException("boolean byte " + (b[0] & 0xff) + " is neither 0 nor 1");
    return b[0] == 1;
  }

  /**
   * Reads a union branch index, as {@link #readInt} reads an int.
   *
   * @param in the decoder
   * @return the index, not yet checked against the union
   * @throws IOException when the index does not fit 32 bits or the input ends early
   */
  public static int readIndex(Decoder in) throws IOException {
    if (!(in instanceof BinaryDecoder)) return in.readIndex();
    return int32(in.readLong(), "union branch index");
  }

  /**
   * Reads an enum symbol index, as {@link #readInt} reads an int.
   *
   * @param in the decoder
   * @return the index, not yet checked against the enum
   * @throws IOException when the index does not fit 32 bits or the input ends early
   */
  public static int readEnum(Decoder in) throws IOException {
    if (!(in instanceof BinaryDecoder)) return in.readEnum();
    return int32(in.readLong(), "enum index");
  }

  private static int int32(long v, String what) throws IOException {
    if (v != (int) v) throw new IOException(what + " " + v + " does not fit 32 bits");
    return (int) v;
  }

  /**
   * The enum symbol at a decoded index, refusing an index the schema does not have.
   *
   * @param <E> the enum
   * @param symbols the enum's values()
   * @param index the decoded index
   * @return the symbol
   * @throws IOException when the index is out of range
   */
  public static <E> E symbol(E[] symbols, int index) throws IOException {
    if (index < 0 || index >= symbols.length) throw new IOException("enum index " + index + " out of range");
    return symbols[index];
  }

  /**
   * Reads size bytes of a fixed.
   *
   * @param in the decoder
   * @param size the fixed size
   * @return a new array
   * @throws IOException when the input ends early
   */
  public static byte[] fixedBytes(Decoder in, int size) throws IOException {
    byte[] b = new byte[size];
    in.readFixed(b);
    return b;
  }

  /**
   * Reads a fixed of schema as Avro's generic fixed (for logical-type conversions).
   *
   * @param in the decoder
   * @param schema the fixed schema
   * @return the value
   * @throws IOException when the input ends early
   */
  public static GenericData.Fixed fixed(Decoder in, Schema schema) throws IOException {
    return new GenericData.Fixed(schema, fixedBytes(in, schema.getFixedSize()));
  }

  /**
   * Parses a uuid string as Avro's UUIDConversion does.
   *
   * @param s the text
   * @return the uuid
   * @throws IOException when s is not a UUID
   */
  public static java.util.UUID uuid(String s) throws IOException {
    try {
      return java.util.UUID.fromString(s);
    } catch (IllegalArgumentException e) {
      throw new IOException("not a uuid: " + s, e);
    }
  }
}
