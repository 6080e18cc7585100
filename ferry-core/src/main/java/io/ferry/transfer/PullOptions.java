package io.ferry.transfer;

import io.ferry.transfer.TransferListener;

/**
 * Options of a pull.
 *
 * @param verify also check the SHA-256 of every byte (frame checksums are always checked)
 * @param fsync force each file to disk before giving it its final name; off by default, like {@code cp} and {@code
 *     git checkout}: files still appear only complete (temporary name, then atomic rename), but a power loss right
 *     after a pull may lose them
 * @param listener progress
 */
public record PullOptions(boolean verify, boolean fsync, TransferListener listener) {
  public PullOptions {
    listener = listener == null ? TransferListener.NONE : listener;
  }

  /** No SHA-256 pass, no fsync, no progress. */
  public static PullOptions defaults() {
    return new PullOptions(false, false, TransferListener.NONE);
  }

  public PullOptions withVerify(boolean v) {
    return new PullOptions(v, fsync, listener);
  }

  public PullOptions withFsync(boolean f) {
    return new PullOptions(verify, f, listener);
  }

  public PullOptions withListener(TransferListener l) {
    return new PullOptions(verify, fsync, l);
  }
}
