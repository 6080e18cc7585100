package io.ferry.store;

import java.time.Clock;
import java.util.Map;
import java.util.Objects;

/**
 * How to open a store.
 *
 * @param create create an empty store if none exists (what {@code ferry init} does)
 * @param settings backend settings from the command line or the API, e.g. {@code s3.endpoint}; a backend ignores the
 *     keys of other modules and refuses unknown keys of its own; {@link SettingNames#firstUnknown} finds keys no module
 *     reads
 * @param clock the time source of backends that stamp times themselves (the local store stamps each object's
 *     modification time, which gc compares with its cutoff): the repository's clock, so that tests control both
 */
public record StoreOptions(boolean create, Map<String, String> settings, Clock clock) {
  public StoreOptions {
    settings = Map.copyOf(Objects.requireNonNull(settings, "settings"));
    Objects.requireNonNull(clock, "clock");
  }

  /** With the system clock. */
  public StoreOptions(boolean create, Map<String, String> settings) {
    this(create, settings, Clock.systemUTC());
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
    return new StoreOptions(create, all, clock);
  }

  public StoreOptions withClock(Clock c) {
    return new StoreOptions(create, settings, c);
  }
}
