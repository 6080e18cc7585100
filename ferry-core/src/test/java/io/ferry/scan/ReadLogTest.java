package io.ferry.scan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The log of what a format read of a file: reading the same ranges again finds a changed byte among them, and a
 * changed size, but not a change elsewhere (bytes the format did not read cannot change its layout).
 */
class ReadLogTest {
  @TempDir Path tmp;

  private Path file(int size) throws IOException {
    byte[] b = new byte[size];
    new Random(1).nextBytes(b);
    Path f = tmp.resolve("f.bin");
    Files.write(f, b);
    return f;
  }

  /** Reads bytes [0, 16) in two reads and [1000, 1010). */
  private static ReadLog log(Path f) throws IOException {
    try (FileChannel ch = FileChannel.open(f)) {
      return ReadLog.record(ch, in -> {
        in.read(ByteBuffer.allocate(8), 0);
        in.read(ByteBuffer.allocateDirect(8), 8);
        in.read(ByteBuffer.allocate(10), 1000);
        return null;
      }).log();
    }
  }

  private static String check(ReadLog log, Path f) throws IOException {
    try (FileChannel ch = FileChannel.open(f)) {
      return log.check(ch);
    }
  }

  private static void put(Path f, long at, byte b) throws IOException {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[] {b}), at);
    }
  }

  @Test
  void aChangedByteTheFormatReadIsFoundAndOneItDidNotReadIsNot() throws IOException {
    Path f = file(4096);
    ReadLog log = log(f);
    assertThat(log.ranges()).as("consecutive reads are one range").isEqualTo(2);
    assertThat(check(log, f)).isNull();
    byte[] all = Files.readAllBytes(f);
    put(f, 500, (byte) ~all[500]);
    assertThat(check(log, f)).isNull();
    put(f, 1009, (byte) ~all[1009]);
    assertThat(check(log, f)).isEqualTo("other bytes where its format read it");
    put(f, 1009, all[1009]);
    put(f, 12, (byte) ~all[12]);
    assertThat(check(log, f)).isEqualTo("other bytes where its format read it");
  }

  @Test
  void aChangedSizeIsFound() throws IOException {
    Path f = file(4096);
    ReadLog log = log(f);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      ch.truncate(2000);
    }
    assertThat(check(log, f)).isEqualTo("it has 2000 bytes, it had 4096 when scanned");
  }

  @Test
  void aFormatCannotMapTheFile() throws IOException {
    Path f = file(64);
    try (FileChannel ch = FileChannel.open(f)) {
      assertThatThrownBy(() -> ReadLog.record(ch, in -> in.map(FileChannel.MapMode.READ_ONLY, 0, 64)))
          .isInstanceOf(UnsupportedOperationException.class);
    }
  }

  /**
   * The check of a big file whose format read a few bytes takes a buffer of those few bytes: it took 1 MiB of direct
   * memory per file, which a model of many files piles up until a garbage collection.
   */
  @Test
  void theCheckTakesABufferAsBigAsTheLongestRange() throws IOException {
    Path f = file(4 << 20);
    ReadLog log = log(f);
    BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
        .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
    try (FileChannel ch = FileChannel.open(f)) {
      long before = direct.getMemoryUsed();
      assertThat(log.check(ch)).isNull();
      assertThat(direct.getMemoryUsed() - before).as("direct memory the check took").isLessThan(64 << 10);
    }
  }
}
