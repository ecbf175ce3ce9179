package canongate.runtime;

import java.io.IOException;

/**
 * A writer schema the registry did not give (unreachable, or an unknown id). Unlike a
 * value that does not decode, the record is not at fault: {@link CanonConsumer#poll} reads
 * it again instead of passing over it.
 */
public class SchemaFetchException extends IOException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message and its cause.
   *
   * @param message names the schema id and the registry's answer
   * @param cause the client's exception
   */
  public SchemaFetchException(String message, Throwable cause) {
    super(message, cause);
  }
}
