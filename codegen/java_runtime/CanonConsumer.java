package canongate.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
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
  private UncheckedIOException pending; // thrown by the next poll

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
   * <p>A value that does not decode is not returned: poll returns the records before it and
   * the next poll throws for it, then moves on past it. A value whose writer schema the
   * registry did not give ({@link SchemaFetchException}) is not passed over: the next poll
   * throws, and the poll after that reads it again. Either way no other record is lost: the
   * consumer seeks back to the first record of each partition it has not returned.
   *
   * @param timeout how long to wait for messages
   * @return the decoded messages, possibly none
   * @throws UncheckedIOException for the record that did not decode, naming topic,
   *     partition and offset (its cause a SchemaFetchException when the registry failed)
   */
  public List<CanonRecord<E>> poll(Duration timeout) {
    if (pending != null) {
      UncheckedIOException e = pending;
      pending = null;
      throw e;
    }
    ConsumerRecords<byte[], byte[]> records = consumer.poll(timeout);
    List<CanonRecord<E>> out = new ArrayList<>();
    Set<TopicPartition> done = new HashSet<>();
    for (TopicPartition tp : records.partitions()) {
      for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
        String key = r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
        if (r.value() == null) {
          out.add(new CanonRecord<>(key, null, 0, r.partition(), r.offset()));
          continue;
        }
        try {
          Framed<E> f = decoder.decode(r.value());
          out.add(new CanonRecord<>(key, f.value(), f.schemaId(), r.partition(), r.offset()));
        } catch (IOException e) {
          // what this poll does not return is read again by the next ones
          consumer.seek(tp, e instanceof SchemaFetchException ? r.offset() : r.offset() + 1);
          for (TopicPartition other : records.partitions()) {
            if (!other.equals(tp) && !done.contains(other)) {
              consumer.seek(other, records.records(other).get(0).offset());
            }
          }
          UncheckedIOException u =
              new UncheckedIOException(r.topic() + "/" + r.partition() + "@" + r.offset() + ": " + e.getMessage(), e);
          if (out.isEmpty()) throw u;
          pending = u;
          return out;
        }
      }
      done.add(tp);
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
