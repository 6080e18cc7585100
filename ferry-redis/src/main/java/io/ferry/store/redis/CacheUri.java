package io.ferry.store.redis;

import io.ferry.error.InvalidInputException;
import java.io.ByteArrayOutputStream;
import java.net.IDN;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A cache URI taken apart and checked completely before anything connects:
 * {@code scheme://[[user]:password@]host[:port][,host[:port]...][/database][?option=value...][#master]}. Each part
 * that is wrong is named with the defect, and the password never appears in a message.
 *
 * <p>The Redis client's own parser was handed the text before: it took a host name with an underscore (a Docker
 * Compose service such as {@code redis_cache:6380}) for a host named {@code redis_cache:6380} on port 6379, passed over
 * options it does not know ({@code ?timout=5s}) and a {@code timeout} that the cache's own settings then replaced, and
 * left a database that is not a number, an empty cluster node and a Sentinel URI without its master to connecting,
 * where they were a "cannot be reached" warning and the command went on without its cache.
 *
 * @param tls whether the scheme is a TLS one ({@code rediss...})
 * @param servers the servers named, at least one: one for {@code redis://}, the seeds of a cluster, the Sentinels
 * @param user the ACL user, or null
 * @param password the password (percent-decoded), or null
 * @param database the database number (0 for a cluster)
 * @param master the master's name a Sentinel URI asks for, or null
 * @param options the query options, each one the cache knows ({@link #OPTIONS})
 */
record CacheUri(String scheme, boolean tls, List<Server> servers, String user, String password, int database,
    String master, Map<String, String> options) {

  /** A server's host name (ASCII: an international name is given in its IDNA form) and port. */
  record Server(String host, int port) {}

  /** The schemes a cache URI may have. */
  static final List<String> SCHEMES = List.of("redis", "rediss", "redis-cluster", "rediss-cluster", "redis-sentinel",
      "rediss-sentinel");
  /** The query options the cache passes to the client; any other is refused. */
  static final List<String> OPTIONS = List.of("clientName", "verifyPeer", "sentinelMasterId");

  boolean cluster() {
    return scheme.endsWith("-cluster");
  }

  /** The parts without the password (a record's own text would show it wherever this is logged). */
  @Override
  public String toString() {
    return "CacheUri[scheme=" + scheme + ", servers=" + servers + ", user=" + user + ", password="
        + (password == null ? "none" : "***") + ", database=" + database + ", master=" + master + ", options="
        + options + "]";
  }

  boolean sentinel() {
    return scheme.endsWith("-sentinel");
  }

  /** {@code uri} with everything before the host's {@code @} hidden: what messages show. */
  static String describe(String uri) {
    int start = uri.indexOf("://");
    int at = uri.lastIndexOf('@');
    return start < 0 || at < start ? uri : uri.substring(0, start + 3) + "***" + uri.substring(at);
  }

  /**
   * Parses and checks a cache URI.
   *
   * @throws InvalidInputException naming the part of the URI that is wrong and why
   */
  static CacheUri parse(String uri) throws InvalidInputException {
    String shown = describe(uri);
    int sep = uri.indexOf("://");
    String scheme = sep < 0 ? "" : uri.substring(0, sep);
    if (!SCHEMES.contains(scheme)) {
      throw bad(shown, "scheme must be " + String.join(", ", SCHEMES.subList(0, SCHEMES.size() - 1)) + " or "
          + SCHEMES.get(SCHEMES.size() - 1));
    }
    String rest = uri.substring(sep + 3);
    int end = firstOf(rest, "/?#");
    String authority = rest.substring(0, end);
    if (rest.indexOf('@', end) >= 0) {
      // an '@' past the servers: a user or password holding '/', '?' or '#', which would end the servers there
      throw bad(shown, "the user or password holds '/', '?' or '#': write them percent-encoded (%2F, %3F, %23,"
          + " and %40 for '@', %25 for '%')");
    }
    String user = null;
    String password = null;
    int at = authority.lastIndexOf('@');
    if (at >= 0) {
      String info = authority.substring(0, at);
      authority = authority.substring(at + 1);
      int colon = info.indexOf(':');
      String u = decode(shown, colon < 0 ? info : info.substring(0, colon), "user");
      password = colon < 0 ? u : decode(shown, info.substring(colon + 1), "password");
      user = colon < 0 || u.isEmpty() ? null : u;
    }
    List<Server> servers = servers(shown, scheme, authority);
    String path = rest.substring(end);
    String fragment = null;
    int hash = path.indexOf('#');
    if (hash >= 0) {
      fragment = path.substring(hash + 1);
      path = path.substring(0, hash);
    }
    Map<String, String> options = new LinkedHashMap<>();
    int q = path.indexOf('?');
    if (q >= 0) {
      for (String pair : path.substring(q + 1).split("&", -1)) {
        if (pair.isEmpty()) {
          continue; // "h:6379?" or "a=1&&b=2"
        }
        int eq = pair.indexOf('=');
        String name = eq < 0 ? pair : pair.substring(0, eq);
        if (!OPTIONS.contains(name)) {
          throw bad(shown, "unknown option '" + name + "': a cache URI takes " + String.join(", ", OPTIONS)
              + "; the cache's timeouts and other settings are --store-option redis.KEY=VALUE (docs/redis.md)");
        }
        String value = eq < 0 ? "" : decode(shown, pair.substring(eq + 1), "option " + name);
        if (name.equals("verifyPeer") && !List.of("true", "false", "full", "ca", "none").contains(
            value.toLowerCase(java.util.Locale.ROOT))) {
          throw bad(shown, "verifyPeer must be true, false, full, ca or none, got '" + value + "'");
        }
        if (name.equals("clientName") && !value.chars().allMatch(c -> c >= '!' && c <= '~')) {
          // the server refuses such a name at connect ("ERR Client names cannot contain spaces..."), which was a
          // cache that "cannot be reached"
          throw bad(shown, "clientName '" + value.replaceAll("\\p{Cntrl}", "?") + "' holds a space, a line break or"
              + " another character Redis refuses in a client name (it takes the printable ASCII characters but the"
              + " space)");
        }
        options.put(name, value);
      }
      path = path.substring(0, q);
    }
    int database = database(shown, path);
    if (scheme.endsWith("-cluster") && database != 0) {
      throw bad(shown, "database " + database + ": a Redis Cluster has database 0 only");
    }
    String master = fragment == null ? null : decode(shown, fragment, "master name");
    String masterOption = options.get("sentinelMasterId");
    if (!scheme.endsWith("-sentinel")) {
      if (master != null || masterOption != null) {
        throw bad(shown, (master != null ? "'#" + fragment + "'" : "option sentinelMasterId")
            + ": only a Sentinel URI (redis-sentinel://) names a master");
      }
    } else {
      if (master != null && masterOption != null && !master.equals(masterOption)) {
        throw bad(shown, "names two masters, '#" + fragment + "' and sentinelMasterId=" + masterOption);
      }
      master = master != null ? master : masterOption;
      if (master == null || master.isEmpty()) {
        throw bad(shown, "no master name: a Sentinel URI ends with #<master name>, as in"
            + " redis-sentinel://s1:26379,s2:26379#mymaster");
      }
    }
    return new CacheUri(scheme, scheme.startsWith("rediss"), List.copyOf(servers), user, password, database, master,
        Map.copyOf(options));
  }

  private static List<Server> servers(String shown, String scheme, String authority) throws InvalidInputException {
    if (authority.isEmpty()) {
      throw bad(shown, "no server: give host:port after " + scheme + "://");
    }
    String[] names = authority.split(",", -1);
    if (names.length > 1 && !scheme.endsWith("-cluster") && !scheme.endsWith("-sentinel")) {
      throw bad(shown, "names " + names.length + " servers: a " + scheme + ":// URI names one (a cluster is "
          + scheme + "-cluster://h1:p1,h2:p2)");
    }
    int defaultPort = scheme.endsWith("-sentinel") ? 26379 : 6379;
    List<Server> out = new ArrayList<>();
    for (String name : names) {
      String host;
      String port = null;
      if (name.startsWith("[")) {
        int close = name.indexOf(']');
        if (close < 0 || (close + 1 < name.length() && name.charAt(close + 1) != ':')) {
          throw bad(shown, "server '" + name + "' is not [IPv6 address]:port");
        }
        host = name.substring(1, close);
        port = close + 1 < name.length() ? name.substring(close + 2) : null;
      } else {
        int colon = name.lastIndexOf(':');
        host = colon < 0 ? name : name.substring(0, colon);
        port = colon < 0 ? null : name.substring(colon + 1);
        if (host.indexOf(':') >= 0) {
          throw bad(shown, "server '" + name + "' is not host:port (an IPv6 address is written in brackets:"
              + " [::1]:6379)");
        }
      }
      if (host.isEmpty()) {
        throw bad(shown, "server '" + name + "' has no host" + (name.isEmpty() ? " (two commas in a row?)" : ""));
      }
      String ascii;
      try {
        ascii = IDN.toASCII(host);
      } catch (IllegalArgumentException e) {
        throw bad(shown, "host '" + host + "' is not a valid host name: " + e.getMessage());
      }
      if (!ascii.matches("[A-Za-z0-9._:%-]+")) {
        throw bad(shown, "host '" + host + "' is not a valid host name");
      }
      if (port == null && scheme.endsWith("-cluster")) {
        throw bad(shown, "cluster node '" + name + "' is not host:port");
      }
      int p = defaultPort;
      if (port != null) {
        p = port.matches("[0-9]{1,5}") ? Integer.parseInt(port) : -1;
        if (p < 1 || p > 65535) {
          throw bad(shown, "port '" + port + "' of server '" + name + "' is not a number from 1 to 65535");
        }
      }
      out.add(new Server(ascii, p));
    }
    return out;
  }

  private static int database(String shown, String path) throws InvalidInputException {
    if (path.isEmpty() || path.equals("/")) {
      return 0;
    }
    String d = path.substring(1);
    if (!d.matches("[0-9]{1,9}")) {
      throw bad(shown, "database '" + d + "' is not a number from 0 (the server's number of databases, 16 by"
          + " default, bounds it)");
    }
    return Integer.parseInt(d);
  }

  /** Percent-decodes a part of the URI as UTF-8; a '+' stays a '+'. */
  private static String decode(String shown, String s, String what) throws InvalidInputException {
    if (s.indexOf('%') < 0) {
      return s;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int i = 0; i < s.length(); ) {
      char c = s.charAt(i);
      if (c != '%') {
        int cp = s.codePointAt(i);
        out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
        i += Character.charCount(cp);
        continue;
      }
      int hi = i + 2 < s.length() ? Character.digit(s.charAt(i + 1), 16) : -1;
      int lo = i + 2 < s.length() ? Character.digit(s.charAt(i + 2), 16) : -1;
      if (hi < 0 || lo < 0) {
        throw bad(shown, "the " + what + " holds a '%' that is not followed by two hex digits (write '%' as %25)");
      }
      out.write(hi * 16 + lo);
      i += 3;
    }
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(out.toByteArray())).toString();
    } catch (CharacterCodingException e) {
      throw bad(shown, "the " + what + " is not UTF-8 once percent-decoded");
    }
  }

  private static int firstOf(String s, String chars) {
    for (int i = 0; i < s.length(); i++) {
      if (chars.indexOf(s.charAt(i)) >= 0) {
        return i;
      }
    }
    return s.length();
  }

  private static InvalidInputException bad(String shown, String why) {
    return new InvalidInputException("cache URI '" + shown + "': " + why);
  }
}
