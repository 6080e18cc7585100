package io.ferry.store;

import java.util.Map;
import java.util.Objects;

/**
 * How to open a store.
 *
 * @param create create an empty store if none exists (what {@code ferry init} does)
 * @param settings backend settings from the command line or the API, e.g. {@code s3.endpoint}; backends ignore keys
 *     they do not know
 */
public record StoreOptions(boolean create, Map<String, String> settings) {
  public StoreOptions {
    settings = Map.copyOf(Objects.requireNonNull(settings, "settings"));
  }

  /** Open an existing store with no settings. */
  public static StoreOptions existing() {
    return new StoreOptions(false, Map.of());
  }

  /** Open the store, creating it if needed. */
  public static StoreOptions createIfMissing() {
    return new StoreOptions(true, Map.of());
  }

  public StoreOptions withSettings(Map<String, String> more) {
    java.util.HashMap<String, String> all = new java.util.HashMap<>(settings);
    all.putAll(more);
    return new StoreOptions(create, all);
  }
}
