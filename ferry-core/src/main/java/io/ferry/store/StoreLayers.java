package io.ferry.store;

import io.ferry.error.InvalidInputException;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Stacks {@link ChunkStoreLayer}s over a backend: the one way to put decorators over any store.
 *
 * <p>Which layers: the {@value #SETTING} setting, a comma-separated list of layer names from the outermost to the
 * innermost ({@code layers=cache,faults} puts the cache over the fault injector over the backend). It is read, first
 * found wins, from the store options' settings ({@code --store-option layers=...} or the Java API), then the store
 * URI's query ({@code s3://bucket/prefix?layers=cache}), then the {@value #ENV} environment variable. An empty value
 * means no layers.
 */
public final class StoreLayers {
  /** The setting that lists the layers. */
  public static final String SETTING = "layers";
  /** The environment variable read when neither the options nor the URI name the layers. */
  public static final String ENV = "FERRY_STORE_LAYERS";

  private StoreLayers() {}

  /**
   * The {@code key=value} pairs of a store URI's query, decoded ({@value #SETTING} among them), empty pairs skipped.
   *
   * <p>This is every store's one reading of its URI's query: {@link io.ferry.Ferry#openBackend} reads it before any
   * backend opens, so the rules below hold for every scheme, and backends check the keys they know in this map.
   *
   * @throws InvalidInputException if a key is given twice (the last one won without a word, so {@code
   *     ?layers=redis&layers=} stacked no layer), or a pair has no {@code =} or an empty key (one store ignored
   *     such a pair and another took it as an option named by the whole pair)
   */
  public static Map<String, String> query(URI uri) throws InvalidInputException {
    String q = uri.getRawQuery();
    if (q == null || q.isEmpty()) {
      return Map.of();
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (String pair : q.split("&")) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        // a pair with an empty key is not shown: its value may be a secret
        throw new InvalidInputException("store URI '" + withoutSecrets(uri.toString()) + "': " + (eq < 0
            ? "query part '" + pair + "' is not key=value" : "a query part is not key=value (its key is empty)"));
      }
      String k = URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8);
      String v = URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      String was = out.put(k, v);
      if (was != null) {
        // the values are not shown: one may be a secret (an HTTP store's token is refused in the URI by its name)
        throw new InvalidInputException("store URI '" + withoutSecrets(uri.toString()) + "': query option '" + k
            + "' is given twice; give it once");
      }
    }
    return out;
  }

  /**
   * {@code store} (a store URI, or a string that should have been one) without its query, fragment and user
   * information, for messages: a token or password written there (which the stores refuse by name once the URI
   * parses) must not reach a terminal or a log, and core's checks run before any backend sees the URI.
   */
  public static String withoutSecrets(String store) {
    String s = store;
    for (char c : new char[] {'?', '#'}) {
      int at = s.indexOf(c);
      s = at < 0 ? s : s.substring(0, at);
    }
    int start = s.indexOf("://");
    if (start >= 0) {
      int end = s.indexOf('/', start + 3);
      int at = s.lastIndexOf('@', end < 0 ? s.length() - 1 : end - 1);
      if (at > start) {
        s = s.substring(0, start + 3) + s.substring(at + 1);
      }
    }
    return s;
  }

  /**
   * Stacks the configured layers over {@code base}; returns {@code base} itself when none is configured.
   *
   * @param uriQuery the settings found in the store URI's query, if any
   * @param env the environment (injected, so tests control it)
   * @throws InvalidInputException naming a layer no module on the class path provides
   */
  public static Backend stack(Backend base, StoreOptions options, Map<String, String> uriQuery,
      Map<String, String> env) throws IOException {
    String spec = spec(options, uriQuery, env);
    if (spec == null || spec.isBlank()) {
      return base;
    }
    ChunkStore chunks = base.chunks();
    try {
      List<ChunkStoreLayer> layers = find(base.uri().toString(), spec);
      for (int i = layers.size() - 1; i >= 0; i--) {
        chunks = layers.get(i).wrap(chunks, options);
      }
    } catch (IOException | RuntimeException e) {
      try {
        base.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    return layered(base, chunks);
  }

  /**
   * Checks, before the store is opened, that a module on the class path provides each layer that {@link #stack} would
   * stack, so that a command given an unknown layer (a typo) fails before it opens, or creates, the store.
   *
   * @param store the store's location, for the message
   * @throws InvalidInputException naming a layer no module on the class path provides
   */
  public static void check(String store, StoreOptions options, Map<String, String> uriQuery, Map<String, String> env)
      throws InvalidInputException {
    String spec = spec(options, uriQuery, env);
    if (spec != null && !spec.isBlank()) {
      find(store, spec);
    }
  }

  private static String spec(StoreOptions options, Map<String, String> uriQuery, Map<String, String> env) {
    String spec = options.settings().get(SETTING);
    if (spec == null) {
      spec = uriQuery.get(SETTING);
    }
    return spec != null ? spec : env.get(ENV);
  }

  /** The layers {@code spec} names, outermost first. */
  private static List<ChunkStoreLayer> find(String store, String spec) throws InvalidInputException {
    List<ChunkStoreLayer> found = new ArrayList<>();
    ServiceLoader.load(ChunkStoreLayer.class, StoreLayers.class.getClassLoader()).forEach(found::add);
    List<ChunkStoreLayer> out = new ArrayList<>();
    for (String n : spec.split(",")) {
      String name = n.trim();
      out.add(found.stream().filter(l -> l.name().equals(name)).findFirst()
          .orElseThrow(() -> new InvalidInputException("store " + store + ": no store layer named '" + name
              + "' (from setting " + SETTING + "; layers on the class path: "
              + found.stream().map(ChunkStoreLayer::name).toList() + ")")));
    }
    return out;
  }

  /**
   * A backend whose chunk store is {@code chunks} (a decorator of {@code base.chunks()}), with {@code base}'s refs
   * and records. Closing it closes {@code chunks} and then {@code base}.
   */
  public static Backend layered(Backend base, ChunkStore chunks) {
    return new Layered(base, chunks);
  }

  private record Layered(Backend base, ChunkStore chunks) implements Backend {
    @Override
    public RefStore refs() {
      return base.refs();
    }

    @Override
    public RecordStore records() {
      return base.records();
    }

    @Override
    public String uri() {
      return base.uri();
    }

    @Override
    public java.util.Optional<java.nio.file.Path> localDirectory() {
      return base.localDirectory();
    }

    @Override
    public java.util.Optional<String> markerId() {
      return base.markerId();
    }

    @Override
    public void close() throws IOException {
      try {
        if (chunks != base.chunks()) {
          chunks.close();
        }
      } finally {
        base.close();
      }
    }
  }
}
