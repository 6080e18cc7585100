package io.ferry.error;

/** A model, ref, version, file or tensor that was asked for and does not exist. */
public class NotFoundException extends FerryException {
  public NotFoundException(String message) {
    super(message);
  }

  @Override
  public Kind kind() {
    return Kind.BAD_INPUT;
  }
}
