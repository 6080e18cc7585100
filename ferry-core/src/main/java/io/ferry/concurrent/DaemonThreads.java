package io.ferry.concurrent;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Thread factories for the pools that repositories and backends own: daemon threads (a pool that its owner forgot to
 * close never keeps the JVM alive) named {@code <prefix>-1}, {@code <prefix>-2}..., so thread dumps say whose they are.
 */
public final class DaemonThreads {
  private DaemonThreads() {}

  /** A factory of daemon threads named {@code prefix-<n>}, n counting from 1 per factory. Thread-safe. */
  public static ThreadFactory named(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
