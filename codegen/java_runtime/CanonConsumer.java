package canongate.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a canon topic (canon.&lt;entity&gt;): read_committed, so only what the aggregator
 * committed is seen, and each value decoded to the envelope class.
 *
 * @param <E> the generated envelope record class
 */
public class CanonConsumer<E> implements AutoCloseable {
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final FramedDecoder<E> decoder;

  /**
   * Decodes a framed envelope.
   *
   * @param <E> the envelope class
   */
  @FunctionalInterface
  public interface FramedDecoder<E> {
    /**
     * Decodes.
     *
     * @param bytes the framed value
     * @return the envelope and its schema id
     * @throws IOException when the bytes are malformed
     */
    Framed<E> decode(byte[] bytes) throws IOException;
  }

  /**
   * A consumer subscribed to topic.
   *
   * @param config Kafka consumer properties (bootstrap.servers, group.id); deserializers and
   *     isolation.level=read_committed are set here, auto.offset.reset=earliest unless given
   * @param topic the canon topic
   * @param decoder the envelope decoder
   */
  public CanonConsumer(Properties config, String topic, FramedDecoder<E> decoder) {
    Properties p = new Properties();
    p.putAll(config);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    // a new group reads the canon topic from the start (the state it holds), as the C and
    // Python helpers do; the caller's properties may say otherwise
    p.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    this.consumer = new KafkaConsumer<>(p);
    this.decoder = decoder;
    consumer.subscribe(List.of(topic));
  }

  /**
   * Polls once.
   *
   * @param timeout how long to wait for messages
   * @return the decoded messages, possibly none
   * @throws UncheckedIOException when a value does not decode
   */
  public List<CanonRecord<E>> poll(Duration timeout) {
    List<CanonRecord<E>> out = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(timeout)) {
      String key = r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
      if (r.value() == null) {
        out.add(new CanonRecord<>(key, null, 0, r.partition(), r.offset()));
        continue;
      }
      try {
        Framed<E> f = decoder.decode(r.value());
        out.add(new CanonRecord<>(key, f.value(), f.schemaId(), r.partition(), r.offset()));
      } catch (IOException e) {
        throw new UncheckedIOException(r.topic() + "/" + r.partition() + "@" + r.offset() + ": " + e.getMessage(), e);
      }
    }
    return out;
  }

  /** Commits the offsets of what poll returned. */
  public void commit() {
    consumer.commitSync();
  }

  @Override
  public void close() {
    consumer.close();
  }
}
