package io.ferry.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A format's read of a big region into a heap buffer (a PyTorch checkpoint's central directory: 46 MB for 300,000
 * tensors) costs no direct memory of the region's size: the JDK reads a heap buffer through a temporary direct buffer
 * as big as the read, and keeps it for the thread's next read.
 */
class FormatInputTest {
  @TempDir Path tmp;

  @Test
  void aBigReadIntoTheHeapTakesLittleDirectMemory() throws Exception {
    int size = 24 << 20;
    byte[] bytes = new byte[size];
    for (int i = 0; i < size; i++) {
      bytes[i] = (byte) (i * 31 + (i >>> 11));
    }
    Path file = Files.write(tmp.resolve("big.bin"), bytes);
    BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
        .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
    AtomicLong grew = new AtomicLong();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    ByteBuffer dst = ByteBuffer.allocate(size - 100);
    // a new thread: no temporary direct buffer cached yet, and the ones its reads leave are counted here
    Thread t = new Thread(() -> {
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
        long before = direct.getMemoryUsed();
        new FormatInput("big.bin", ch, size).readFully(dst, 100);
        grew.set(direct.getMemoryUsed() - before);
      } catch (Throwable e) {
        failed.set(e);
      }
    });
    t.start();
    t.join();
    assertThat(failed.get()).isNull();
    assertThat(dst.hasRemaining()).isFalse();
    assertThat(dst.array()[0]).isEqualTo(bytes[100]);
    assertThat(dst.array()[size - 101]).isEqualTo(bytes[size - 1]);
    assertThat(grew.get()).as("direct memory the read left behind").isLessThanOrEqualTo(2 << 20);
  }
}
