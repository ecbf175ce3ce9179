package canongate.runtime;

/**
 * A value read from a Confluent-framed message, with the schema id of its frame.
 *
 * @param <T> the value's type
 * @param schemaId the registry id of the writer's schema
 * @param value the decoded value
 */
public record Framed<T>(int schemaId, T value) {}
