package io.ferry.testkit.crash;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.GcReport;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.TagResult;
import io.ferry.store.CasResult;
import io.ferry.store.StoreOptions;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Child-process main class of the crash tests: does one piece of store work through the Java API so that the parent
 * can kill it with SIGKILL at a moment of its choosing. Prints one result line to stdout when the work is done.
 *
 * <p>Usage:
 *
 * <ul>
 *   <li>{@code push <store> <source dir> <target> <message>}: prints {@code COMMITTED <version id>}
 *   <li>{@code gc <store>}: gc with grace 0; prints {@code GC <dead objects>}
 *   <li>{@code tag <store> <model> <tag> <author> <count> <version id>...}: moves the tag {@code count} times without
 *       an expected value, cycling through the given versions; prints {@code MOVED <n>} (moves that were logged)
 * </ul>
 *
 * <p>Exit codes: 0 done, 1 fault (stack trace on stderr), 2 bad arguments.
 */
public final class CrashChild {
  private CrashChild() {}

  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: CrashChild push|gc|tag <store> ...");
      System.exit(2);
    }
    try {
      switch (args[0]) {
        case "push" -> push(args[1], Path.of(args[2]), args[3], args[4]);
        case "gc" -> gc(args[1]);
        case "tag" -> tag(args);
        default -> {
          System.err.println("unknown mode " + args[0]);
          System.exit(2);
        }
      }
    } catch (Throwable t) {
      t.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }

  private static Repository open(String store, String author) throws Exception {
    return Ferry.open(store, StoreOptions.existing(), RepositoryOptions.defaults().withAuthor(author));
  }

  private static void push(String store, Path source, String target, String message) throws Exception {
    try (Repository repo = open(store, "crash-push")) {
      PushResult r = repo.push(source, target, PushOptions.builder().message(message).build());
      System.out.println("COMMITTED " + r.versionId().hex());
      System.out.flush();
    }
  }

  private static void gc(String store) throws Exception {
    try (Repository repo = open(store, "crash-gc")) {
      GcReport r = repo.gc(Duration.ZERO, false);
      System.out.println("GC " + r.deadObjects());
      System.out.flush();
    }
  }

  private static void tag(String[] args) throws Exception {
    String model = args[2];
    String tag = args[3];
    String author = args[4];
    int count = Integer.parseInt(args[5]);
    int versions = args.length - 6;
    int moved = 0;
    try (Repository repo = open(args[1], author)) {
      for (int i = 0; i < count; i++) {
        ChunkId to = ChunkId.parse(args[6 + i % versions]);
        TagResult r = repo.tag(model + "@" + to.hex(), tag, null);
        if (r.result() != CasResult.NO_CHANGE) {
          moved++;
        }
      }
    }
    System.out.println("MOVED " + moved);
    System.out.flush();
  }
}
