package io.ferry.error;

import java.io.IOException;

/**
 * Base of Ferry's errors. Each subclass maps to one exit code of the CLI, so that callers can tell bad input from a
 * damaged store from a lost race without parsing messages. Messages say what, where, expected and actual.
 */
public abstract class FerryException extends IOException {
  protected FerryException(String message) {
    super(message);
  }

  protected FerryException(String message, Throwable cause) {
    super(message, cause);
  }

  /** The kind of failure, which decides the CLI exit code. */
  public abstract Kind kind();

  /** Failure kinds and their documented exit codes. */
  public enum Kind {
    /** Bad input or something asked for that does not exist: exit 1. */
    BAD_INPUT(1),
    /** A stored object failed a checksum or a hash, or a referenced object is missing: exit 3. */
    INTEGRITY(3),
    /** A compare-and-swap lost its race: exit 4. */
    CONFLICT(4);

    private final int exitCode;

    Kind(int exitCode) {
      this.exitCode = exitCode;
    }

    public int exitCode() {
      return exitCode;
    }
  }
}
