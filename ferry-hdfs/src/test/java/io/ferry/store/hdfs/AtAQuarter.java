package io.ferry.store.hdfs;

import io.ferry.transfer.TransferListener;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A push's listener that runs an action once, when a quarter of the push's bytes are stored: a DataNode stopped then
 * meets a push that has written objects and has more to write.
 */
final class AtAQuarter implements TransferListener {
  private final Runnable action;
  private final AtomicLong total = new AtomicLong();
  private final AtomicLong done = new AtomicLong();
  private final AtomicBoolean ran = new AtomicBoolean();

  AtAQuarter(Runnable action) {
    this.action = action;
  }

  @Override
  public void phase(String name, long totalBytes) {
    total.set(totalBytes);
  }

  @Override
  public void progress(long bytes) {
    if (done.addAndGet(bytes) >= total.get() / 4 && ran.compareAndSet(false, true)) {
      action.run();
    }
  }

  /** Whether the action ran. */
  boolean ran() {
    return ran.get();
  }
}
