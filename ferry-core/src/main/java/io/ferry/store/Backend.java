package io.ferry.store;

import java.io.IOException;

/**
 * The two SPI halves of one store, opened from a URI by a {@link BackendProvider}. Closing the backend closes both.
 */
public interface Backend extends AutoCloseable {
  ChunkStore chunks();

  RefStore refs();

  /** The store's URI, for messages. */
  String uri();

  @Override
  void close() throws IOException;
}
