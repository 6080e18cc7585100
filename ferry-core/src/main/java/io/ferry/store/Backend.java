package io.ferry.store;

import java.io.IOException;

/**
 * The SPI parts of one store, opened from a URI by a {@link BackendProvider}. Closing the backend closes both.
 */
public interface Backend extends AutoCloseable {
  ChunkStore chunks();

  RefStore refs();

  /** Small named records that core builds its protocols on (ref logs, leases); see {@link RecordStore}. */
  RecordStore records();

  /** The store's URI, for messages. */
  String uri();

  @Override
  void close() throws IOException;
}
