package io.ferry;

import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import io.ferry.store.local.LocalBackendProvider;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Objects;
import java.util.ServiceLoader;

/**
 * Entry point of the Java API: {@code try (Repository repo = Ferry.open("file:/data/ferry")) {...}}.
 *
 * <p>A store is named by a URI ({@code file:}, and {@code hdfs://}, {@code s3://}... when their modules are on the
 * class path) or by a plain path for the local store. Without one, {@code $FERRY_STORE}, else {@code ~/.ferry/store}.
 */
public final class Ferry {
  /** Ferry's version. */
  public static final String VERSION = "0.1.0";

  private Ferry() {}

  /** Opens an existing store with default options. */
  public static Repository open(String store) throws IOException {
    return open(store, StoreOptions.existing(), RepositoryOptions.defaults());
  }

  /** Opens (or with {@link StoreOptions#create()} creates) a store. */
  public static Repository open(String store, StoreOptions storeOptions, RepositoryOptions options)
      throws IOException {
    Objects.requireNonNull(storeOptions, "storeOptions");
    Objects.requireNonNull(options, "options");
    return Repository.open(openBackend(store, storeOptions.withClock(options.clock()).withNotices(options.notices())),
        options);
  }

  /**
   * Opens just the backend of a store, with the store layers its settings name stacked over it ({@link
   * StoreLayers}).
   */
  public static Backend openBackend(String store, StoreOptions storeOptions) throws IOException {
    Objects.requireNonNull(storeOptions, "storeOptions");
    String location = store == null ? defaultStore() : store;
    URI uri = toUri(location);
    StoreLayers.check(uri.toString(), storeOptions, StoreLayers.query(uri), System.getenv());
    LocalBackendProvider local = new LocalBackendProvider();
    if (local.supports(uri.getScheme())) {
      // built in: no search of the class path's jars for providers (tens of milliseconds of a command's start-up)
      return StoreLayers.stack(local.open(uri, storeOptions), storeOptions, StoreLayers.query(uri), System.getenv());
    }
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class, Ferry.class.getClassLoader())) {
      if (p.supports(uri.getScheme())) {
        return StoreLayers.stack(p.open(uri, storeOptions), storeOptions, StoreLayers.query(uri), System.getenv());
      }
    }
    // the store as named, also when it came from $FERRY_STORE: with store null, the message itself failed (NPE)
    throw new InvalidInputException("no backend for store '" + StoreLayers.withoutSecrets(location) + "': scheme '"
        + uri.getScheme() + "' is not supported here (is its module on the class path?)");
  }

  /**
   * The directory of the local store {@code store} names when nothing is there yet, else null (another scheme, or
   * something already there). A command or job that creates a store there removes it again if it fails, as it found
   * the place: an empty store left behind would hold space and look like one the user made.
   */
  public static Path absentLocalStore(String store) throws IOException {
    URI uri = toUri(store);
    if (!"file".equals(uri.getScheme()) || uri.getAuthority() != null || uri.getPath() == null) {
      return null;
    }
    Path dir = Path.of(uri.getPath());
    return Files.exists(dir, LinkOption.NOFOLLOW_LINKS) ? null : dir;
  }

  /** The store used when none is given: {@code $FERRY_STORE}, else {@code ~/.ferry/store}. */
  public static String defaultStore() {
    String env = System.getenv("FERRY_STORE");
    if (env != null && !env.isBlank()) {
      return env;
    }
    return Path.of(System.getProperty("user.home"), ".ferry", "store").toString();
  }

  /** A URI from a URI text or a plain local path. */
  public static URI toUri(String store) throws InvalidInputException {
    if (store.isBlank()) {
      throw new InvalidInputException("empty store location");
    }
    int colon = store.indexOf(':');
    boolean hasScheme = colon > 1 && store.substring(0, colon).matches("[A-Za-z][A-Za-z0-9+.-]*");
    if (!hasScheme) {
      return Path.of(store).toAbsolutePath().normalize().toUri();
    }
    try {
      URI uri = new URI(store);
      if (uri.getScheme().equals("file") && uri.getPath() == null) {
        throw new InvalidInputException("store URI '" + store + "' has no path");
      }
      return uri;
    } catch (URISyntaxException e) {
      String hosts = hostsWithEncodedBrackets(store);
      if (hosts != null) {
        try {
          return new URI(hosts);
        } catch (URISyntaxException again) {
          // reported as the user wrote it, below
        }
      }
      throw new InvalidInputException("store '" + StoreLayers.withoutSecrets(store) + "' is not a valid URI: "
          + e.getReason());
    }
  }

  /**
   * {@code store} with the brackets of its authority written {@code %5B} and {@code %5D}, if the authority lists
   * several hosts ({@code cassandra://[::1]:9042,[fe80::2]/ks}); else null. A URI allows bare brackets only around its
   * one host, so several IPv6 contact points could not be written as users write them; the backends of such stores
   * decode the brackets back. An {@code http(s)} store's list of servers runs up to its query, since each server may
   * have a scheme and a path of its own ({@code http://[::1]:8080/ferry,http://[::2]:8080/ferry}).
   */
  private static String hostsWithEncodedBrackets(String store) {
    int start = store.indexOf("://");
    if (start < 0) {
      return null;
    }
    String ends = store.substring(0, start).toLowerCase(java.util.Locale.ROOT).matches("https?") ? "?#" : "/?#";
    start += 3;
    int end = start;
    while (end < store.length() && ends.indexOf(store.charAt(end)) < 0) {
      end++;
    }
    String authority = store.substring(start, end);
    if (authority.indexOf(',') < 0 || authority.indexOf('[') < 0) {
      return null;
    }
    return store.substring(0, start) + authority.replace("[", "%5B").replace("]", "%5D") + store.substring(end);
  }
}
