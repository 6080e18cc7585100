package io.ferry.store;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

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

  /**
   * The directory that holds the store, for a store on the local file system: a push refuses a source that contains
   * it or lies in it (pushing a store into itself would store the store, and pulling that back would overwrite its
   * files). Empty for stores elsewhere, the default.
   */
  default Optional<Path> localDirectory() {
    return Optional.empty();
  }

  /**
   * The id in the store's marker ({@link StoreMarker}), read when the store was opened. Empty for a store created
   * before markers had one (then {@link StoreIdentity#of} gives the store its id), and where a backend has no marker
   * of its own, the default.
   */
  default Optional<String> markerId() {
    return Optional.empty();
  }

  @Override
  void close() throws IOException;
}
