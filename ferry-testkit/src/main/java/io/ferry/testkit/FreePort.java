package io.ferry.testkit;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A free loopback port for a server that a test starts in another process, which binds it only later (Cassandra
 * seconds later), for a server that a test stops and later starts again on the same port, and for a port on which a
 * test needs nothing to listen for a while. A port from {@code new ServerSocket(0)} lies in the kernel's ephemeral
 * range, from which every other bind to port 0 and every outgoing connection on the machine takes its port too: while
 * nothing listens on it, the other module testing beside this one (a MiniDFSCluster binds dozens) may be handed the
 * same port, and the server fails to start. The port returned here lies below that range, where only a bind to that
 * very number takes it.
 *
 * <p>Where several test runs share a machine, each may confine its servers to its own ports with the system property
 * {@value #RANGE}, {@code LOW-HIGH} (inclusive, e.g. {@code -Dferry.test.ports=21400-21499}): every port picked here
 * then lies in that range.
 */
public final class FreePort {
  private static final Path EPHEMERAL = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
  private static final int LOWEST = 10_000;
  private static final int DEFAULT_EPHEMERAL_START = 32_768;
  /** The system property that confines the ports picked here to a range, {@code LOW-HIGH}. */
  public static final String RANGE = "ferry.test.ports";

  private FreePort() {}

  /**
   * A port nothing listens on now: in the range of {@value #RANGE} when it is set, else below the ephemeral range when
   * there is room there, else one the kernel picks.
   *
   * @throws IOException when every port tried in the range of {@value #RANGE} is taken
   */
  public static int pick() throws IOException {
    String range = System.getProperty(RANGE, "").trim();
    if (!range.isEmpty()) {
      int[] r = parseRange(range);
      for (int i = 0; i < 200; i++) {
        int port = r[0] + ThreadLocalRandom.current().nextInt(r[1] - r[0] + 1);
        if (isFree(port)) {
          return port;
        }
      }
      throw new IOException("no free port found in " + RANGE + "=" + range + " after 200 tries");
    }
    int end = ephemeralStart();
    for (int i = 0; end - LOWEST >= 1000 && i < 200; i++) {
      int port = LOWEST + ThreadLocalRandom.current().nextInt(end - LOWEST);
      if (isFree(port)) {
        return port;
      }
    }
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /** Whether nothing listens on {@code port} of the loopback address now (a bind to it succeeds). */
  public static boolean isFree(int port) {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static int[] parseRange(String range) {
    String[] p = range.split("-", -1);
    try {
      int lo = Integer.parseInt(p[0].trim());
      int hi = p.length == 2 ? Integer.parseInt(p[1].trim()) : -1;
      if (p.length == 2 && lo > 0 && lo <= hi && hi <= 65535) {
        return new int[] {lo, hi};
      }
    } catch (NumberFormatException e) {
      // said below
    }
    throw new IllegalArgumentException(RANGE + " must be LOW-HIGH, two ports from 1 to 65535 with LOW <= HIGH, got '"
        + range + "'");
  }

  private static int ephemeralStart() {
    try {
      // by lines: Files.readString gets only the first byte of this procfs file
      return Integer.parseInt(Files.readAllLines(EPHEMERAL).get(0).trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return DEFAULT_EPHEMERAL_START;
    }
  }
}
