package io.ferry.error;

/** Input that Ferry refuses: a malformed file, a bad name, a bad argument. The store is left as it was. */
public class InvalidInputException extends FerryException {
  public InvalidInputException(String message) {
    super(message);
  }

  public InvalidInputException(String message, Throwable cause) {
    super(message, cause);
  }

  @Override
  public Kind kind() {
    return Kind.BAD_INPUT;
  }
}
