package io.ferry.spark.store;

import io.ferry.repo.Suggestions;
import io.ferry.store.SettingNames;
import java.io.Serializable;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * How an executor opens a store: its URI and the store settings ({@code s3.endpoint}, {@code layers}, ...). This, and
 * never an open repository, is what a Spark plan carries to executors; it is small and serializable, and equal specs
 * share one open store per JVM ({@link StoreCache}).
 *
 * @param uri the store URI ({@code file:}, {@code hdfs://}, {@code s3://}, ...)
 * @param settings store settings, as {@code --store-option key=value} gives them to the CLI
 */
public record StoreSpec(String uri, Map<String, String> settings) implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The prefix of DataSource options and job arguments that are store settings: {@code store.s3.endpoint}. */
  public static final String OPTION_PREFIX = "store.";

  public StoreSpec {
    Objects.requireNonNull(uri, "uri");
    if (uri.isBlank()) {
      throw new IllegalArgumentException("store URI is empty");
    }
    settings = Map.copyOf(settings);
  }

  /** A store without settings. */
  public static StoreSpec of(String uri) {
    return new StoreSpec(uri, Map.of());
  }

  /**
   * The store named by options: {@code store} is the URI, every {@code store.<key>} a setting {@code <key>}.
   *
   * @throws IllegalArgumentException if there is no {@code store} option
   */
  public static StoreSpec fromOptions(Map<String, String> options) {
    String uri = null;
    Map<String, String> settings = new TreeMap<>();
    for (Map.Entry<String, String> e : options.entrySet()) {
      String k = e.getKey();
      if (k.equalsIgnoreCase("store")) {
        uri = e.getValue();
      } else if (k.regionMatches(true, 0, OPTION_PREFIX, 0, OPTION_PREFIX.length())) {
        settings.put(k.substring(OPTION_PREFIX.length()), e.getValue());
      }
    }
    if (uri == null) {
      throw new IllegalArgumentException("option 'store' is missing: give the store URI, e.g. "
          + ".option(\"store\", \"hdfs://namenode:8020/ferry\")");
    }
    checkSettings(settings, "option 'store.%s'");
    return new StoreSpec(uri, settings);
  }

  /**
   * Refuses a setting that neither the core nor any store module or layer on the class path reads (a mistyped
   * {@code s3.endpont} would otherwise be ignored), as the CLI refuses it; {@code spelled} is how the user wrote the
   * setting, a format of its key ({@code --store-option %s}, {@code option 'store.%s'}).
   *
   * @throws IllegalArgumentException naming the setting, with the known names like it
   */
  public static void checkSettings(Map<String, String> settings, String spelled) {
    String unknown = SettingNames.firstUnknown(settings);
    if (unknown != null) {
      throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, spelled, unknown)
          + ": no store module here reads a setting '" + unknown + "'"
          + Suggestions.didYouMean(unknown, SettingNames.knownNames()));
    }
  }

  @Override
  public String toString() {
    return settings.isEmpty() ? uri : uri + " " + new TreeMap<>(settings);
  }
}
