package io.ferry.format;

import java.io.IOException;

/**
 * Thrown by a {@link TensorFormat} that claimed a file by its name when the file is of another kind, one Ferry stores
 * as its bytes: a TorchScript archive ({@code torch.jit.save}) named {@code model.pt}, as a Triton model repository
 * holds it, is a zip like a {@code torch.save} checkpoint but holds code and constants, not a pickled state dict. The
 * registry then leaves the file to no format (it is opaque) instead of refusing the push.
 */
public final class NotATensorFileException extends IOException {
  private static final long serialVersionUID = 1L;

  /** @param message the file and what it is */
  public NotATensorFileException(String message) {
    super(message);
  }
}
