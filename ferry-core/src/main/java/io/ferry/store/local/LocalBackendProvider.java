package io.ferry.store.local;

import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.StoreLayers;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;

/**
 * Opens {@link LocalBackend}s for {@code file:} URIs such as {@code file:/home/me/.ferry/store} or {@code
 * file:///data/ferry}. Registered for {@link java.util.ServiceLoader} in {@code META-INF/services}.
 */
public final class LocalBackendProvider implements BackendProvider {
  /** Creates the provider; it holds no state. */
  public LocalBackendProvider() {}

  /** True for {@code file}. */
  @Override
  public boolean supports(String scheme) {
    return "file".equalsIgnoreCase(scheme);
  }

  /**
   * Opens the store in the directory named by the URI; see {@link LocalBackend#open}.
   *
   * @throws InvalidInputException if the URI is not an absolute {@code file:} URI, if its query has an option other
   *     than {@value StoreLayers#SETTING}, or as {@link LocalBackend#open}
   */
  @Override
  public Backend open(URI uri, StoreOptions options) throws IOException {
    if (uri == null || !supports(uri.getScheme())) {
      throw new InvalidInputException("'" + uri + "' is not a file: URI");
    }
    for (String key : StoreLayers.query(uri).keySet()) {
      if (!key.equals(StoreLayers.SETTING)) {
        // such a key was ignored: a misspelt option silently did nothing, and init created the store
        throw new InvalidInputException("store URI '" + uri + "': query option '" + key + "' is unknown: the"
            + " query of a file: store takes only '" + StoreLayers.SETTING + "'");
      }
    }
    Path path;
    try {
      // the query holds settings (layers=...), not part of the path
      path = Path.of(uri.getRawQuery() == null ? uri : new URI(uri.getScheme(), uri.getAuthority(), uri.getPath(),
          null, null));
    } catch (java.net.URISyntaxException e) {
      throw new InvalidInputException("'" + uri + "' is not a usable file: URI: " + e.getMessage(), e);
    } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
      throw new InvalidInputException("'" + uri + "' is not a usable file: URI (expected file:/absolute/path): "
          + e.getMessage(), e);
    }
    return LocalBackend.open(path, options);
  }
}
