package canongate.runtime;

/**
 * One message of a canon topic, decoded.
 *
 * @param <E> the envelope class
 * @param key the universal identifier (the message key as UTF-8)
 * @param value the envelope, or null for a tombstone
 * @param schemaId the schema id of the frame (0 for a tombstone)
 * @param partition the partition
 * @param offset the offset
 */
public record CanonRecord<E>(String key, E value, int schemaId, int partition, long offset) {}
