package io.ferry.store.s3;

import io.ferry.error.InvalidInputException;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;

/**
 * The settings of an S3 store, from {@link io.ferry.store.StoreOptions#settings()} (command line or API) and, where a
 * setting is absent, the environment. Credentials are never settings: they come from the AWS SDK's default chain
 * (environment, system properties, profiles, container and instance roles).
 *
 * <table>
 *   <caption>settings</caption>
 *   <tr><th>key</th><th>environment</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@code s3.endpoint}</td><td>{@code FERRY_S3_ENDPOINT}</td><td>AWS</td><td>endpoint of an
 *       S3-compatible store, e.g. {@code http://127.0.0.1:9000}</td></tr>
 *   <tr><td>{@code s3.region}</td><td>(SDK chain: {@code AWS_REGION}, profile)</td><td>SDK chain, else
 *       {@code us-east-1} with cross-region access</td><td>signing region</td></tr>
 *   <tr><td>{@code s3.path-style}</td><td>{@code FERRY_S3_PATH_STYLE}</td><td>true with an endpoint, else
 *       false</td><td>{@code http://host/bucket/key} instead of {@code http://bucket.host/key}</td></tr>
 *   <tr><td>{@code s3.max-connections}</td><td></td><td>64</td><td>HTTP connection pool size</td></tr>
 *   <tr><td>{@code s3.max-attempts}</td><td></td><td>10</td><td>attempts per request, first included, with
 *       exponential backoff and full jitter</td></tr>
 *   <tr><td>{@code s3.backoff-ms}</td><td></td><td>100</td><td>base delay of the backoff</td></tr>
 *   <tr><td>{@code s3.socket-timeout-ms}</td><td></td><td>30000</td><td>longest silence on a connection before
 *       an attempt fails</td></tr>
 *   <tr><td>{@code s3.part-size}</td><td></td><td>8388608</td><td>bytes per ranged GET ({@code 8m}, {@code 8MiB})
 *       when a read is split into parallel ranges</td></tr>
 *   <tr><td>{@code s3.parallelism}</td><td></td><td>16</td><td>threads of the store for parallel ranges, HEADs
 *       and log reads</td></tr>
 *   <tr><td>{@code s3.min-rate}</td><td></td><td>65536</td><td>bytes per second a ranged GET's body must average
 *       ({@code 64k}); a body slower than that, past {@code s3.socket-timeout-ms} more, fails the attempt (a body
 *       trickled a byte per socket timeout never ended); 0: no bound</td></tr>
 * </table>
 */
public record S3Settings(URI endpoint, String region, boolean pathStyle, int maxConnections, int maxAttempts,
    Duration backoff, Duration socketTimeout, int partSize, int parallelism, int minRate) {
  public static final String ENDPOINT = "s3.endpoint";
  public static final String REGION = "s3.region";
  public static final String PATH_STYLE = "s3.path-style";
  public static final String MAX_CONNECTIONS = "s3.max-connections";
  public static final String MAX_ATTEMPTS = "s3.max-attempts";
  public static final String BACKOFF_MS = "s3.backoff-ms";
  public static final String SOCKET_TIMEOUT_MS = "s3.socket-timeout-ms";
  public static final String PART_SIZE = "s3.part-size";
  public static final String PARALLELISM = "s3.parallelism";
  public static final String MIN_RATE = "s3.min-rate";

  /** Environment variable for the endpoint. */
  public static final String ENDPOINT_ENV = "FERRY_S3_ENDPOINT";
  /** Environment variable for path-style access. */
  public static final String PATH_STYLE_ENV = "FERRY_S3_PATH_STYLE";

  public S3Settings {
    if (maxConnections < 1 || maxAttempts < 1 || parallelism < 1 || minRate < 0) {
      throw new IllegalArgumentException("max-connections, max-attempts and parallelism must be at least 1");
    }
    if (partSize < 64 * 1024) {
      throw new IllegalArgumentException("part size " + partSize + " is below 64 KiB");
    }
  }

  /** Defaults, no endpoint (AWS). */
  public static S3Settings defaults() {
    return new S3Settings(null, null, false, 64, 10, Duration.ofMillis(100), Duration.ofSeconds(30), 8 << 20, 16,
        64 << 10);
  }

  /**
   * Reads the settings; keys of other backends are ignored, and an {@code s3.} key this backend does not read (a typo
   * such as {@code s3.endpiont}) is refused.
   *
   * @param env the environment, e.g. {@code System::getenv}
   * @throws InvalidInputException if a value is malformed (names the key and the value), or an {@code s3.} key unknown
   */
  public static S3Settings from(Map<String, String> settings, Function<String, String> env)
      throws InvalidInputException {
    io.ferry.store.SettingNames known = names();
    for (String key : settings.keySet()) {
      if (key.startsWith("s3.") && !known.reads(key)) {
        throw new InvalidInputException("unknown S3 setting '" + key + "'"
            + io.ferry.repo.Suggestions.didYouMean(key, known.names()) + "; the S3 settings are "
            + String.join(", ", new java.util.TreeSet<>(known.names())));
      }
      if (key.startsWith("s3.") && settings.get(key) != null && settings.get(key).isBlank()) {
        // it was taken as unset: a script's unset $REGION signed for the SDK's region instead, without a word
        throw new InvalidInputException(key + " is empty (an unset shell variable?): give a value, or leave the"
            + " setting out for its default");
      }
    }
    S3Settings d = defaults();
    String endpointText = first(settings.get(ENDPOINT), env.apply(ENDPOINT_ENV));
    URI endpoint = null;
    if (endpointText != null) {
      try {
        endpoint = URI.create(endpointText);
      } catch (IllegalArgumentException e) {
        // not the cause: its message is the whole endpoint, user info and all
        String why = e.getCause() instanceof java.net.URISyntaxException u ? ": " + u.getReason() : "";
        throw new InvalidInputException("S3 endpoint '" + withoutUserInfo(endpointText) + "' is not a URI" + why);
      }
      if (endpoint.getRawUserInfo() != null) {
        // it would be printed in every message that names the store, and the SDK does not read credentials there
        throw new InvalidInputException("S3 endpoint '" + withoutUserInfo(endpointText) + "': credentials do not go"
            + " in the endpoint; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE");
      }
      if (endpoint.getScheme() == null || !endpoint.getScheme().matches("https?") || endpoint.getHost() == null) {
        throw new InvalidInputException("S3 endpoint '" + withoutUserInfo(endpointText)
            + "' must be http://host[:port] or https://host[:port]");
      }
      if (endpoint.getPort() == 0 || endpoint.getPort() > 65535) {
        // the SDK said "Port number(Use -1 to specify the scheme default port): 99999 is out of range [-1, 65535]"
        throw new InvalidInputException("S3 endpoint '" + withoutUserInfo(endpointText) + "': port "
            + endpoint.getPort() + " is not a port (1 to 65535)");
      }
    }
    String region = settings.get(REGION);
    String pathStyleText = first(settings.get(PATH_STYLE), env.apply(PATH_STYLE_ENV));
    boolean pathStyle = endpoint != null;
    if (pathStyleText != null) {
      if (!pathStyleText.equalsIgnoreCase("true") && !pathStyleText.equalsIgnoreCase("false")) {
        throw new InvalidInputException(PATH_STYLE + " is '" + pathStyleText + "'; expected true or false");
      }
      pathStyle = Boolean.parseBoolean(pathStyleText);
    }
    return new S3Settings(endpoint, region == null ? null : region.trim(), pathStyle,
        intSetting(settings, MAX_CONNECTIONS, d.maxConnections, 1),
        intSetting(settings, MAX_ATTEMPTS, d.maxAttempts, 1),
        Duration.ofMillis(intSetting(settings, BACKOFF_MS, (int) d.backoff.toMillis(), 1)),
        Duration.ofMillis(intSetting(settings, SOCKET_TIMEOUT_MS, (int) d.socketTimeout.toMillis(), 1)),
        byteSetting(settings, PART_SIZE, d.partSize, 64 * 1024),
        intSetting(settings, PARALLELISM, d.parallelism, 1),
        byteSetting(settings, MIN_RATE, d.minRate, 0));
  }

  /**
   * The endpoint as written, with whatever stands between "//" and the last '@' replaced by "***" (up to the last '@',
   * not to the first '/': secret access keys may hold a '/').
   */
  private static String withoutUserInfo(String endpoint) {
    int start = endpoint.indexOf("//");
    int at = endpoint.lastIndexOf('@');
    return start < 0 || at < start ? endpoint : endpoint.substring(0, start + 2) + "***" + endpoint.substring(at);
  }

  private static String first(String a, String b) {
    if (a != null && !a.isBlank()) {
      return a.trim();
    }
    return b == null || b.isBlank() ? null : b.trim();
  }

  private static int intSetting(Map<String, String> settings, String key, int dflt, int min)
      throws InvalidInputException {
    String v = settings.get(key);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n < min) {
        throw new InvalidInputException(key + " is " + n + "; it must be at least " + min);
      }
      return n;
    } catch (NumberFormatException e) {
      // "expected a whole number" was said of whole numbers too large for an int as well
      throw new InvalidInputException(key + " is '" + v + "'; expected a whole number from " + min + " to "
          + Integer.MAX_VALUE, e);
    }
  }

  /** A byte count that fits an int, as {@link io.ferry.repo.ByteSizes#parse} reads it ({@code 8388608}, {@code 8m}). */
  private static int byteSetting(Map<String, String> settings, String key, int dflt, int min)
      throws InvalidInputException {
    String v = settings.get(key);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    long n;
    try {
      n = io.ferry.repo.ByteSizes.parse(v);
    } catch (IllegalArgumentException e) {
      throw new InvalidInputException(key + " is '" + v + "'; expected " + io.ferry.repo.ByteSizes.FORMS, e);
    }
    if (n < min || n > Integer.MAX_VALUE) {
      throw new InvalidInputException(key + " is '" + v + "'; it must be between " + min + " and "
          + Integer.MAX_VALUE + " bytes");
    }
    return (int) n;
  }

  /** The settings an S3 store reads, for {@link io.ferry.store.SettingNames#firstUnknown}. */
  static io.ferry.store.SettingNames names() {
    return io.ferry.store.SettingNames.of(ENDPOINT, REGION, PATH_STYLE, MAX_CONNECTIONS, MAX_ATTEMPTS, BACKOFF_MS,
        SOCKET_TIMEOUT_MS, PART_SIZE, PARALLELISM, MIN_RATE);
  }
}
