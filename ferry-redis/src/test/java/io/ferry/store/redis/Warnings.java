package io.ferry.store.redis;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

/** A listener that keeps what the cache said. */
final class Warnings implements CacheListener {
  final List<String> warnings = new CopyOnWriteArrayList<>();
  /** The notices (said while the cache stays in use), which are in {@link #warnings} too. */
  final List<String> notices = new CopyOnWriteArrayList<>();
  final List<String> recoveries = new CopyOnWriteArrayList<>();
  final AtomicReference<CacheCounters> closed = new AtomicReference<>();

  @Override
  public void warning(String message) {
    warnings.add(message);
  }

  @Override
  public void notice(String message) {
    notices.add(message);
    warnings.add(message);
  }

  @Override
  public void recovered(String message) {
    recoveries.add(message);
  }

  @Override
  public void closed(CacheCounters totals) {
    closed.set(totals);
  }
}
