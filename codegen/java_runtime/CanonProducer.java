package canongate.runtime;

import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.function.Function;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Sends updates of one entity to its canon.&lt;entity&gt;.updates topic: key = the universal
 * identifier as UTF-8, value = the update in Confluent framing with the update schema's
 * id. Partitioning is left to kafka-clients' default partitioner, which hashes keys with
 * murmur2 (the partition {@link #partitionFor} computes), as librdkafka's murmur2_random
 * partitioner does: every language's producers agree on where an entity lives.
 *
 * @param <U> the generated update record class
 */
public class CanonProducer<U> implements AutoCloseable {
  private final KafkaProducer<byte[], byte[]> producer;
  private final String topic;
  private final int schemaId;
  private final Function<U, String> key;
  private final FramedEncoder<U> encoder;

  /**
   * Frames an update with a schema id.
   *
   * @param <U> the update class
   */
  @FunctionalInterface
  public interface FramedEncoder<U> {
    /**
     * Encodes.
     *
     * @param update the update
     * @param schemaId the id for the frame
     * @return the framed bytes
     */
    byte[] encode(U update, int schemaId);
  }

  /**
   * A producer.
   *
   * @param config Kafka producer properties (bootstrap.servers at least); serializers are
   *     set here, the partitioner is left to the default
   * @param topic the updates topic
   * @param schemaId the update schema's registry id
   * @param key the universal identifier of an update
   * @param encoder the framed encoder of an update
   */
  public CanonProducer(Properties config, String topic, int schemaId, Function<U, String> key, FramedEncoder<U> encoder) {
    Properties p = new Properties();
    p.putAll(config);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
    p.putIfAbsent(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    this.producer = new KafkaProducer<>(p);
    this.topic = topic;
    this.schemaId = schemaId;
    this.key = key;
    this.encoder = encoder;
  }

  /**
   * The Kafka record an update becomes (key, framed value; partition chosen by Kafka).
   *
   * @param update the update
   * @return the record
   */
  public ProducerRecord<byte[], byte[]> record(U update) {
    return new ProducerRecord<>(topic, key.apply(update).getBytes(StandardCharsets.UTF_8), encoder.encode(update, schemaId));
  }

  /**
   * Sends an update.
   *
   * @param update the update
   * @return completes when the broker acknowledged it
   */
  public Future<RecordMetadata> send(U update) {
    return producer.send(record(update));
  }

  /** Waits until every sent update is acknowledged. */
  public void flush() {
    producer.flush();
  }

  /**
   * The schema id this producer frames updates with.
   *
   * @return the id
   */
  public int schemaId() {
    return schemaId;
  }

  @Override
  public void close() {
    producer.close();
  }

  /**
   * The partition Kafka's default partitioner gives a key: murmur2 of its UTF-8 bytes,
   * made positive, modulo the partition count.
   *
   * @param key the universal identifier
   * @param partitions the topic's partition count
   * @return the partition
   */
  public static int partitionFor(String key, int partitions) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
  }

}
