package io.ferry.server;

import io.ferry.store.Backend;
import java.nio.file.Path;

/**
 * Keeps the server's own paths out of what clients read: an error about a local store's file (a damaged ref log)
 * names it by its absolute path, which the server's log keeps and a client is told relative to the store.
 */
final class ServerPaths {
  private ServerPaths() {}

  /** {@code text} with the local store's root (and the separator after it) taken out; as it is for other stores. */
  static String hidden(Backend backend, String text) {
    if (text == null) {
      return null;
    }
    String root;
    try {
      java.net.URI u = java.net.URI.create(backend.uri());
      if (!"file".equalsIgnoreCase(u.getScheme())) {
        return text;
      }
      root = Path.of(u).toString();
    } catch (RuntimeException notALocalPath) {
      return text;
    }
    if (root.isEmpty()) {
      return text;
    }
    return text.replace(root + java.io.File.separator, "").replace(root, "<store>");
  }
}
