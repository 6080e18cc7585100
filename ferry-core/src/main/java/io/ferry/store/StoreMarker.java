package io.ferry.store;

import io.ferry.limits.JsonTree;
import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.error.CorruptStoreException;
import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.UUID;

/**
 * The marker at the root of every store, {@value #NAME}: {@code {"format":"ferry-store","version":1,"id":"..."}}. A
 * store is opened only where a marker of this version is, or created only where there is nothing; {@link
 * #openOrCreate} is that rule, once for every backend, and each backend supplies its {@link Site}.
 *
 * <p>The {@code id} (32 hex digits, random, written when the store is created) tells one store from another, such as
 * a store from a copy of it ({@code ferry copy} creates its destination, which gets an id of its own). Markers written
 * before there was an id have none; {@link StoreIdentity} gives such a store one.
 *
 * <p>Stateless and thread-safe.
 */
public final class StoreMarker {
  /** Name of the marker at the root of a store (a file or an object). */
  public static final String NAME = "ferry-store.json";
  /** The store format version this code writes and reads. */
  public static final int FORMAT_VERSION = 1;

  private static final String JSON = "{\"format\":\"ferry-store\",\"version\":" + FORMAT_VERSION + "}";

  private StoreMarker() {}

  /** The bytes of the marker this code writes for a new store, with a new random id. */
  public static byte[] content() {
    return ("{\"format\":\"ferry-store\",\"version\":" + FORMAT_VERSION + ",\"id\":\"" + newId() + "\"}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** A new random store id: 122 random bits (a random UUID) as 32 lowercase hex digits. */
  public static String newId() {
    return UUID.randomUUID().toString().replace("-", "");
  }

  /**
   * Checks a marker's bytes.
   *
   * @return the store's id, or empty for a marker written before markers had one
   * @param store the store's location, for the message
   * @param where the marker's path or key, for the message
   * @throws CorruptStoreException if it is not JSON or not a Ferry store marker (damage: the CLI exits 3)
   * @throws InvalidInputException if it is the marker of another store format version
   */
  public static Optional<String> check(byte[] marker, String store, String where) throws IOException {
    JsonNode json;
    try {
      json = JsonTree.read(marker);
    } catch (IOException e) {
      throw new CorruptStoreException(store, "its marker " + where + " is not valid JSON: " + JsonTree.problem(e)
          + "; a marker holds " + JSON, e);
    }
    if (json == null || !"ferry-store".equals(json.path("format").asText())) {
      throw new CorruptStoreException(store, "its marker " + where + " is not a Ferry store marker: expected format"
          + " \"ferry-store\"; a marker holds " + JSON);
    }
    JsonNode version = json.path("version");
    if (!version.isIntegralNumber()) {
      throw new CorruptStoreException(store, "its marker " + where + " has no store format version (\"version\" is "
          + version + "); a marker holds " + JSON);
    }
    if (version.asLong() != FORMAT_VERSION) {
      throw new InvalidInputException(where + " has store format version " + version
          + "; this Ferry reads version " + FORMAT_VERSION);
    }
    JsonNode id = json.path("id");
    if (id.isMissingNode()) {
      return Optional.empty();
    }
    if (!id.isTextual() || id.asText().isEmpty() || id.asText().length() > 128) {
      throw new CorruptStoreException(store, "its marker " + where + " has a store id that is not a string of 1 to 128"
          + " characters (\"id\" is " + id + "); a marker holds " + JSON + " and an id");
    }
    return Optional.of(id.asText());
  }

  /** Where a backend would open or create a store: what {@link #openOrCreate} needs of it. */
  public interface Site {
    /** The store's location, for messages: a path or a URI. */
    String describe();

    /** The marker's path or key, for messages. */
    String markerName();

    /** What to add to "no Ferry store at ..." to help the user. */
    default String absentHint() {
      return "(run 'ferry init' or pass --store)";
    }

    /** The marker's bytes, or empty if there is no marker. */
    Optional<byte[]> readMarker() throws IOException;

    /** Whether the location holds nothing (or does not exist), so that a store may be created there. */
    boolean isEmpty() throws IOException;

    /**
     * Whether the location holds what a store holds besides its marker (its top-level directories: objects, refs and
     * records), so that a store whose marker went missing is told apart from a directory that never was a store.
     * False where a backend cannot tell.
     */
    default boolean holdsStore() throws IOException {
      return false;
    }

    /**
     * Creates the store's structure, then publishes {@code marker} last, atomically (a reader never sees a partial
     * marker, and a crash before leaves no marker).
     *
     * @return false if a marker appeared meanwhile (another process created the store), which is then checked
     */
    boolean publish(byte[] marker) throws IOException;
  }

  /**
   * Opens or creates the store at a site: checks its marker if it has one; else creates it if it is empty and {@code
   * create} is set; else refuses.
   *
   * @return the store's id from its marker, or empty for a store created before markers had one
   * @throws InvalidInputException if there is no store and {@code create} is false, if the location holds something
   *     other than a store, or if the marker is of another store format version
   * @throws CorruptStoreException if the marker is damaged (not JSON, not a store marker)
   */
  public static Optional<String> openOrCreate(Site site, boolean create) throws IOException {
    Optional<byte[]> marker = site.readMarker();
    if (marker.isPresent()) {
      return check(marker.get(), site.describe(), site.markerName());
    }
    if (!site.isEmpty() && site.holdsStore()) {
      // a copy that left the marker out, or damage: every command refused the store as no store at all
      throw new CorruptStoreException(site.describe(), "its marker " + site.markerName() + " is missing, though it"
          + " holds a store's directories (a copy that left the marker out, or damage); if it is a Ferry store,"
          + " put the marker back: it holds " + JSON);
    }
    if (!site.isEmpty()) {
      throw new InvalidInputException(site.describe() + " is not empty and is not a Ferry store (it has no store"
          + " marker " + site.markerName() + "); refusing to use it");
    }
    if (!create) {
      throw new InvalidInputException("no Ferry store at " + site.describe() + " " + site.absentHint());
    }
    byte[] content = content();
    if (!site.publish(content)) {
      return check(site.readMarker().orElseThrow(() -> new IOException("creating the store at " + site.describe()
          + ": the marker " + site.markerName() + " was there and then was not")), site.describe(), site.markerName());
    }
    return check(content, site.describe(), site.markerName());
  }
}
