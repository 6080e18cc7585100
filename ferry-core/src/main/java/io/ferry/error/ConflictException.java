package io.ferry.error;

/** A ref moved by someone else between read and compare-and-swap; nothing was changed. */
public class ConflictException extends FerryException {
  public ConflictException(String message) {
    super(message);
  }

  @Override
  public Kind kind() {
    return Kind.CONFLICT;
  }
}
