package io.ferry.testkit;

import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * Child-process main class for {@link RefStoreContract}'s multi-process test: opens the store named by a URI through
 * {@link ServiceLoader}, then moves one ref {@code count} times, each time with read, compare-and-swap, retry on
 * {@link CasResult#LOCK_FAILURE}, to a fresh value {@code sha256(label + ":" + i)}; the log entry's {@code why} is
 * {@code label + " " + i}.
 *
 * <p>Usage: {@code RefMover <store uri> <ref name> <count> <label> [key=value...]}; the optional pairs are the
 * {@link StoreOptions#settings()} to open the store with. With {@code -D}{@value #READY_PROPERTY}{@code =<file>}, the
 * mover creates that file once the store is open and makes its first move only after reading a line from standard
 * input: a parent starting several movers releases them together, so that their moves overlap however long each JVM
 * took to start. On success it prints {@code moves <count> lost-races <n>} to stderr. Exits 0 when all moves
 * succeeded, 1 on a fault (printed to stderr), 2 on bad arguments.
 */
public final class RefMover {
  /** The system property naming the file that says "store open, waiting for the start line". */
  public static final String READY_PROPERTY = "ferry.refmover.ready";

  private RefMover() {}

  /** Runs the mover; see the class comment for arguments and exit codes. */
  public static void main(String[] args) {
    if (args.length < 4) {
      System.err.println("usage: RefMover <store uri> <ref name> <count> <label> [key=value...]");
      System.exit(2);
    }
    Map<String, String> settings = new HashMap<>();
    for (int i = 4; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      if (eq <= 0) {
        System.err.println("setting '" + args[i] + "' is not key=value");
        System.exit(2);
      }
      settings.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    String ready = System.getProperty(READY_PROPERTY);
    try {
      int count = Integer.parseInt(args[2]);
      long lost;
      try (Backend backend = open(URI.create(args[0]), new StoreOptions(false, settings))) {
        if (ready != null) {
          awaitStart(Path.of(ready));
        }
        lost = move(backend, args[1], count, args[3]);
      }
      System.err.println("moves " + count + " lost-races " + lost);
    } catch (Throwable t) {
      t.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }

  /** Says it is ready in {@code ready}, then waits for a line on standard input (its end counts too). */
  private static void awaitStart(Path ready) throws java.io.IOException {
    Files.createFile(ready);
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
  }

  /** Does the moves in this process; returns the number of lost races (retries). */
  public static long run(URI uri, StoreOptions options, String ref, int count, String label) throws Exception {
    try (Backend backend = open(uri, options)) {
      return move(backend, ref, count, label);
    }
  }

  private static long move(Backend backend, String ref, int count, String label) throws Exception {
    long retries = 0;
    for (int i = 0; i < count; i++) {
      ChunkId next = ChunkId.of((label + ":" + i).getBytes(StandardCharsets.UTF_8));
      while (true) {
        Optional<ChunkId> cur = backend.refs().get(ref);
        ChunkId expected = cur.orElse(null);
        RefLogEntry e = new RefLogEntry(expected, next, label, Instant.now(), label + " " + i);
        CasResult r = backend.refs().compareAndSet(ref, expected, next, e);
        if (r.isSuccess()) {
          if (r == CasResult.NO_CHANGE) {
            throw new IllegalStateException("move " + i + " of " + label + " to a fresh value returned NO_CHANGE");
          }
          break;
        }
        retries++;
      }
    }
    return retries;
  }

  /** Opens the store with the first {@link BackendProvider} on the class path that supports the URI's scheme. */
  public static Backend open(URI uri, StoreOptions options) throws java.io.IOException {
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
      if (p.supports(uri.getScheme())) {
        return p.open(uri, options);
      }
    }
    throw new IllegalArgumentException("no BackendProvider on the class path supports '" + uri.getScheme() + "'");
  }
}
