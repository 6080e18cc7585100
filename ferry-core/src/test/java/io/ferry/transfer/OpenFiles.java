package io.ferry.transfer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/** The file descriptors this JVM holds ({@code /proc/self/fd}), counted now or at every progress report of a transfer. */
final class OpenFiles {
  static final Path FDS = Path.of("/proc/self/fd");

  private OpenFiles() {}

  /** Whether this system lists them. */
  static boolean countable() {
    return Files.isDirectory(FDS);
  }

  static long count() {
    try (Stream<Path> s = Files.list(FDS)) {
      return s.count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A listener that keeps in {@code most} the largest count seen at a progress report. */
  static TransferListener sampler(AtomicLong most) {
    return new TransferListener() {
      @Override
      public void progress(long bytes) {
        most.accumulateAndGet(count(), Math::max);
      }
    };
  }
}
