package io.ferry.store;

import io.ferry.error.CorruptStoreException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * A store's id, which tells one store from another (a store from a copy of it): what servers over one store report
 * alike ({@code GET /v1/store}), so that a client given servers over different stores can tell.
 *
 * <p>A store created since markers have an id has it in its marker ({@link Backend#markerId}). A store created before
 * gets one on first use: a random id in the record {@value #RECORD}, created with {@link RecordStore#create}, whose
 * atomicity makes every process that asks at once, on any backend, read the same id. A store that cannot take the
 * record (a read-only mount, credentials that may only read) has no id until a writer asks.
 *
 * <p>Stateless and thread-safe.
 */
public final class StoreIdentity {
  /** The record that holds the id of a store whose marker has none. */
  public static final String RECORD = "store/id";

  private StoreIdentity() {}

  /**
   * The store's id: its marker's, else its {@value #RECORD} record's, which this call creates if there is none.
   *
   * @throws IOException if the record cannot be read or created (a store that may only be read, a system fault)
   */
  public static String of(Backend backend) throws IOException {
    Optional<String> marked = backend.markerId();
    if (marked.isPresent()) {
      return marked.get();
    }
    RecordStore records = backend.records();
    Optional<byte[]> held = records.read(RECORD);
    if (held.isEmpty()) {
      records.create(RECORD, StoreMarker.newId().getBytes(StandardCharsets.US_ASCII));
      held = records.read(RECORD);
    }
    String id = new String(held.orElseThrow(() -> new IOException("store " + backend.uri() + ": its record "
        + RECORD + " was created and then was not there")), StandardCharsets.US_ASCII).strip();
    if (id.isEmpty() || id.length() > 128) {
      throw new CorruptStoreException(backend.uri(), "its record " + RECORD + " holds no store id of"
          + " 1 to 128 characters (it holds " + id.length() + ")");
    }
    return id;
  }
}
