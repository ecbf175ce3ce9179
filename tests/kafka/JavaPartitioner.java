// JavaPartitioner.java - the Java client's own answer to "which partition does this key go
// to", for tests/kafka/test_broker.py to compare librdkafka's murmur2_random partitioner
// (C and Python) against. Uses kafka-clients itself (from the kafka.sh cache), not a
// re-implementation: BuiltInPartitioner.partitionForKey is what KafkaProducer calls for a
// record with a key and no explicit partition.
//
// Usage: java -cp kafka-clients-4.1.1.jar JavaPartitioner.java PARTITIONS < keys
// Reads one UTF-8 key per line; prints "KEY PARTITION MURMUR2" per key.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class JavaPartitioner {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String key; (key = in.readLine()) != null; ) {
            byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
            out.append(key).append(' ')
               .append(BuiltInPartitioner.partitionForKey(bytes, partitions)).append(' ')
               .append(Utils.murmur2(bytes)).append('\n');
        }
        System.out.print(out);
    }
}
