package io.ferry.store;

import java.time.Clock;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import org.slf4j.LoggerFactory;

/**
 * How to open a store.
 *
 * @param create create an empty store if none exists (what {@code ferry init} does)
 * @param settings backend settings from the command line or the API, e.g. {@code s3.endpoint}; a backend ignores the
 *     keys of other modules and refuses unknown keys of its own; {@link SettingNames#firstUnknown} finds keys no module
 *     reads
 * @param clock the time source of backends that stamp times themselves (the local store stamps each object's
 *     modification time, which gc compares with its cutoff): the repository's clock, so that tests control both
 * @param notices where a backend sends what the user should hear of while the store works (the HTTP store: a server
 *     that does not report its store's id); the repository's notices when {@code Ferry.open} opens the store, else a
 *     warning through SLF4J
 */
public record StoreOptions(boolean create, Map<String, String> settings, Clock clock, Consumer<String> notices) {
  public StoreOptions {
    settings = Map.copyOf(Objects.requireNonNull(settings, "settings"));
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(notices, "notices");
  }

  /** With notices sent to SLF4J as warnings. */
  public StoreOptions(boolean create, Map<String, String> settings, Clock clock) {
    this(create, settings, clock, message -> LoggerFactory.getLogger(StoreOptions.class).warn("{}", message));
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
    return new StoreOptions(create, all, clock, notices);
  }

  public StoreOptions withClock(Clock c) {
    return new StoreOptions(create, settings, c, notices);
  }

  public StoreOptions withNotices(Consumer<String> n) {
    return new StoreOptions(create, settings, clock, n);
  }
}
