package io.ferry.transfer;

/**
 * Progress of a push, pull or verify, for progress bars and metrics. Called from worker threads: implementations
 * must be thread-safe and fast. All methods default to doing nothing.
 */
public interface TransferListener {
  TransferListener NONE = new TransferListener() {};

  /** A phase starts ({@code hash}, {@code upload}, {@code pull}, {@code verify}) with its total bytes. */
  default void phase(String name, long totalBytes) {}

  /** The current phase has {@code count} files to go through (called after {@link #phase}, when it has files). */
  default void files(int count) {}

  /** One more file of the current phase is done. */
  default void fileDone() {}

  /** {@code bytes} more bytes of the current phase are done. */
  default void progress(long bytes) {}

  /** The operation ended (successfully or not). */
  default void done() {}
}
