package io.ferry.store.http;

import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreLayers;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Which servers an HTTP store talks to and how, from a {@code http://a:8080,http://b:8080?balance=random} URI and the
 * store settings (keys {@code http.<option>}, which win over the URI's query).
 *
 * <p>Servers: the URI's authority may list several, comma-separated; each entry is {@code [scheme://]host[:port][/path]},
 * an entry without a scheme takes the first entry's, and a path is a prefix in front of {@code /v1/store} (a server
 * behind a reverse proxy). Ports default to the scheme's (80, 443). Credentials never go in the URI: the token comes
 * from the {@code http.token} setting ({@code --token}) or the {@code FERRY_TOKEN} environment variable, and {@link
 * #toString()} never shows it.
 *
 * <table>
 *   <caption>options</caption>
 *   <tr><th>option</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@code balance}</td><td>{@code least-outstanding}</td><td>how chunk reads are spread over the servers:
 *       {@code least-outstanding}, {@code round-robin}, {@code random}</td></tr>
 *   <tr><td>{@code max_requests}</td><td>16</td><td>requests in flight per server; a caller waits for a free one</td></tr>
 *   <tr><td>{@code connect_timeout_ms}</td><td>5000</td><td>how long a connection may take</td></tr>
 *   <tr><td>{@code request_timeout_ms}</td><td>60000</td><td>how long one request may take, body included</td></tr>
 *   <tr><td>{@code hedge}</td><td>{@code true}</td><td>ask a second server when a chunk read runs past the recent
 *       p95</td></tr>
 *   <tr><td>{@code hedge_floor_ms}</td><td>20</td><td>a read is never hedged before this</td></tr>
 *   <tr><td>{@code probe_min_ms}, {@code probe_max_ms}</td><td>100, 5000</td><td>first and longest wait between probes
 *       of a server marked down (doubling in between)</td></tr>
 *   <tr><td>{@code http_version}</td><td>{@code 2}</td><td>{@code 2} (HTTP/2 where the server offers it, else 1.1) or
 *       {@code 1.1}, for the JDK client's requests; over {@code http://} a {@code GET} or {@code HEAD} takes an
 *       HTTP/1.1 connection of its own ({@link PlainReads})</td></tr>
 * </table>
 *
 * @param servers the base URI of each server, without a trailing slash, in the order given
 * @param token the bearer token, or null for a development server
 */
public record HttpSettings(List<URI> servers, Balance balance, int maxRequests, Duration connectTimeout,
    Duration requestTimeout, boolean hedge, Duration hedgeFloor, Duration probeMin, Duration probeMax,
    HttpClient.Version version, String token) {
  /** Prefix of the store settings this backend reads. */
  public static final String PREFIX = "http.";
  /** The setting that carries the token ({@code --token}). */
  public static final String TOKEN = PREFIX + "token";
  /** The environment variable read when no token setting is given. */
  public static final String TOKEN_ENV = "FERRY_TOKEN";
  private static final List<String> KNOWN = List.of("balance", "max_requests", "connect_timeout_ms",
      "request_timeout_ms", "hedge", "hedge_floor_ms", "probe_min_ms", "probe_max_ms", "http_version");

  /** How chunk reads pick a server. */
  public enum Balance {
    /** The server with the fewest requests in flight (ties taken in turn): the default. */
    LEAST_OUTSTANDING("least-outstanding"),
    /** Each server in turn. */
    ROUND_ROBIN("round-robin"),
    /** A server picked at random. */
    RANDOM("random");

    private final String option;

    Balance(String option) {
      this.option = option;
    }

    /** The name the {@code balance} option takes. */
    public String option() {
      return option;
    }
  }

  public HttpSettings {
    servers = List.copyOf(servers);
    Objects.requireNonNull(balance, "balance");
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    Objects.requireNonNull(requestTimeout, "requestTimeout");
    Objects.requireNonNull(hedgeFloor, "hedgeFloor");
    Objects.requireNonNull(probeMin, "probeMin");
    Objects.requireNonNull(probeMax, "probeMax");
    Objects.requireNonNull(version, "version");
    if (servers.isEmpty()) {
      throw new IllegalArgumentException("no servers");
    }
    if (maxRequests < 1) {
      throw new IllegalArgumentException("max_requests " + maxRequests + " is below 1");
    }
    if (probeMax.compareTo(probeMin) < 0) {
      throw new IllegalArgumentException("probe_max_ms " + probeMax.toMillis() + " is below probe_min_ms "
          + probeMin.toMillis());
    }
  }

  /**
   * Parses the URI, the settings and, for the token, the environment.
   *
   * @throws InvalidInputException naming the URI (never the token) and what is wrong with it
   */
  public static HttpSettings parse(URI uri, Map<String, String> settings, Map<String, String> env)
      throws InvalidInputException {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw bad(uri, "the scheme is not http or https");
    }
    if (uri.getRawFragment() != null) {
      // not shown: whatever was written there (a token, by mistake) must not reach a terminal or a log
      throw bad(uri, "a fragment ('#...') has no meaning in a store URI: options go in its query (?option=value) or"
          + " in store settings");
    }
    String raw = uri.getRawSchemeSpecificPart();
    int q = raw.indexOf('?');
    if (q >= 0) {
      raw = raw.substring(0, q);
    }
    if (!raw.startsWith("//") || raw.length() == 2) {
      throw bad(uri, "no server: expected http://host:port (or several, comma-separated)");
    }
    List<URI> servers = servers(uri, scheme, raw.substring(2));
    Map<String, String> options = new TreeMap<>(StoreLayers.query(uri));
    if (options.containsKey("token")) {
      throw bad(uri, "a token does not go in the URI (it would show in messages): give it with --token or "
          + TOKEN_ENV);
    }
    settings.forEach((k, v) -> {
      if (k.startsWith(PREFIX) && !k.equals(TOKEN)) {
        options.put(k.substring(PREFIX.length()), v);
      }
    });
    for (String k : options.keySet()) {
      if (!KNOWN.contains(k) && !k.equals(StoreLayers.SETTING)) {
        throw bad(uri, "unknown option '" + k + "'; known: " + String.join(", ", KNOWN));
      }
    }
    Balance balance = null;
    String b = options.getOrDefault("balance", Balance.LEAST_OUTSTANDING.option());
    for (Balance c : Balance.values()) {
      if (c.option().equals(b.trim().toLowerCase(Locale.ROOT))) {
        balance = c;
      }
    }
    if (balance == null) {
      throw bad(uri, "balance '" + b + "' is not least-outstanding, round-robin or random");
    }
    String hedge = options.getOrDefault("hedge", "true").trim().toLowerCase(Locale.ROOT);
    if (!hedge.equals("true") && !hedge.equals("false")) {
      throw bad(uri, "hedge '" + hedge + "' is not true or false");
    }
    String v = options.getOrDefault("http_version", "2").trim();
    HttpClient.Version version = switch (v) {
      case "2" -> HttpClient.Version.HTTP_2;
      case "1.1" -> HttpClient.Version.HTTP_1_1;
      default -> throw bad(uri, "http_version '" + v + "' is not 2 or 1.1");
    };
    String token = settings.get(TOKEN);
    String from = "--token";
    if (token == null) {
      token = env.get(TOKEN_ENV);
      from = TOKEN_ENV;
    }
    if (token != null) {
      token = token.trim();
      if (token.isEmpty()) {
        token = null;
      } else if (!token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
        // where and what, never the token itself
        int at = 0;
        while (token.charAt(at) > 0x20 && token.charAt(at) < 0x7f) {
          at++;
        }
        char c = token.charAt(at);
        throw bad(uri, "the token (" + from + ") has " + (c == ' ' ? "a space" : c == '\t' ? "a tab" : c == '\n'
            ? "a line break" : String.format("U+%04X", (int) c)) + " at character " + (at + 1) + " of "
            + token.length() + "; a token is printable ASCII without spaces (was it pasted with another word?)");
      }
    }
    Duration probeMin = millis(uri, options, "probe_min_ms", 100);
    Duration probeMax = millis(uri, options, "probe_max_ms", 5000);
    if (probeMax.compareTo(probeMin) < 0) {
      throw bad(uri, "probe_max_ms " + probeMax.toMillis() + " is below probe_min_ms " + probeMin.toMillis());
    }
    return new HttpSettings(servers, balance, positive(uri, options, "max_requests", 16),
        millis(uri, options, "connect_timeout_ms", 5000), millis(uri, options, "request_timeout_ms", 60000),
        hedge.equals("true"), millis(uri, options, "hedge_floor_ms", 20), probeMin, probeMax, version, token);
  }

  /** The servers as one URI without options, for messages. */
  public String describe() {
    StringBuilder s = new StringBuilder();
    for (URI u : servers) {
      s.append(s.length() == 0 ? "" : ",").append(u);
    }
    return s.toString();
  }

  /** Shows every setting but the token. */
  @Override
  public String toString() {
    return "HttpSettings[servers=" + describe() + ", balance=" + balance.option() + ", maxRequests=" + maxRequests
        + ", connectTimeout=" + connectTimeout + ", requestTimeout=" + requestTimeout + ", hedge=" + hedge
        + ", hedgeFloor=" + hedgeFloor + ", probe=" + probeMin + ".." + probeMax + ", version=" + version
        + ", token=" + (token == null ? "none" : "(set)") + "]";
  }

  private static List<URI> servers(URI uri, String scheme, String list) throws InvalidInputException {
    List<URI> out = new ArrayList<>();
    for (String entry : list.split(",", -1)) {
      String e = bracketsDecoded(entry.trim());
      if (e.isEmpty()) {
        throw bad(uri, "an empty server in the list");
      }
      if (!e.matches("(?i)https?://.*")) {
        if (e.contains("://")) {
          throw bad(uri, "server '" + shown(e) + "' is not http:// or https://");
        }
        e = scheme + "://" + e;
      }
      URI s;
      try {
        s = new URI(e);
      } catch (URISyntaxException ex) {
        throw bad(uri, "server '" + shown(e) + "' is not a valid URI: " + ex.getReason());
      }
      if (s.getHost() == null) {
        throw bad(uri, "server '" + shown(e) + "' has no host (expected host[:port])");
      }
      if (s.getRawUserInfo() != null) {
        throw bad(uri, "server '" + s.getHost() + "': credentials do not go in the URI; give a token with --token or "
            + TOKEN_ENV);
      }
      if (s.getRawQuery() != null || s.getRawFragment() != null) {
        throw bad(uri, "server '" + shown(e) + "': options go at the end of the whole URI");
      }
      String path = s.getRawPath() == null ? "" : s.getRawPath();
      while (path.endsWith("/")) {
        path = path.substring(0, path.length() - 1);
      }
      String base = s.getScheme().toLowerCase(Locale.ROOT) + "://" + s.getRawAuthority() + path;
      URI b = URI.create(base);
      if (out.contains(b)) {
        throw bad(uri, "server " + b + " is listed twice");
      }
      out.add(b);
    }
    return out;
  }

  /**
   * The server with the brackets of its host given back: a list of servers that holds an IPv6 literal reaches here
   * with its brackets written {@code %5B} and {@code %5D} ({@link io.ferry.Ferry#toUri}), since a URI allows bare
   * brackets only around a single host. Only the authority is decoded; a path keeps its escapes. The server may be
   * given with or without its scheme.
   */
  private static String bracketsDecoded(String server) {
    int start = server.indexOf("://") < 0 ? 0 : server.indexOf("://") + 3;
    int end = server.indexOf('/', start);
    if (end < 0) {
      end = server.length();
    }
    String authority = server.substring(start, end).replaceAll("(?i)%5B", "[").replaceAll("(?i)%5D", "]");
    return server.substring(0, start) + authority + server.substring(end);
  }

  /**
   * A server of the list as messages show it: its brackets decoded, and without user information (a password written
   * there, which the list refuses, must not reach a terminal or a log).
   */
  private static String shown(String server) {
    String s = bracketsDecoded(server);
    int start = s.indexOf("://") < 0 ? 0 : s.indexOf("://") + 3;
    int end = s.indexOf('/', start);
    int at = s.lastIndexOf('@', (end < 0 ? s.length() : end) - 1);
    return at < start ? s : s.substring(0, start) + s.substring(at + 1);
  }

  private static int positive(URI uri, Map<String, String> options, String key, int dflt)
      throws InvalidInputException {
    String value = options.get(key);
    if (value == null) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(value.trim());
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      if (value.trim().matches("\\+?[0-9]+")) {
        throw bad(uri, key + " '" + value + "' is above " + Integer.MAX_VALUE);
      }
    }
    throw bad(uri, key + " '" + value + "' is not a whole number of at least 1");
  }

  private static Duration millis(URI uri, Map<String, String> options, String key, int dflt)
      throws InvalidInputException {
    return Duration.ofMillis(positive(uri, options, key, dflt));
  }

  private static InvalidInputException bad(URI uri, String why) {
    return new InvalidInputException("store URI '" + withoutQuery(uri) + "': " + why);
  }

  /**
   * The URI without its query, fragment and user information, its servers' brackets as the user wrote them ({@code
   * [::1]}, not the {@code %5B::1%5D} a list of servers reaches here with): what messages show.
   */
  static String withoutQuery(URI uri) {
    String s = uri.toString();
    int q = s.indexOf('?');
    s = q < 0 ? s : s.substring(0, q);
    int f = s.indexOf('#');
    s = f < 0 ? s : s.substring(0, f);
    int start = s.indexOf("://");
    if (start < 0) {
      return s;
    }
    StringBuilder out = new StringBuilder(s.substring(0, start + 3));
    String[] entries = s.substring(start + 3).split(",", -1);
    for (int i = 0; i < entries.length; i++) {
      out.append(i == 0 ? "" : ",").append(shown(entries[i]));
    }
    return out.toString();
  }

  /** The settings an HTTP store reads ({@value #PREFIX} and its URI options), for the CLI's check of names. */
  static io.ferry.store.SettingNames names() {
    java.util.Set<String> n = new java.util.HashSet<>();
    n.add(TOKEN);
    KNOWN.forEach(k -> n.add(PREFIX + k));
    return new io.ferry.store.SettingNames(n, List.of());
  }
}
