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
 */
public final class FreePort {
  private static final Path EPHEMERAL = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
  private static final int LOWEST = 10_000;
  private static final int DEFAULT_EPHEMERAL_START = 32_768;

  private FreePort() {}

  /** A port nothing listens on now, below the ephemeral range when there is room there; else one the kernel picks. */
  public static int pick() throws IOException {
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

  private static int ephemeralStart() {
    try {
      // by lines: Files.readString gets only the first byte of this procfs file
      return Integer.parseInt(Files.readAllLines(EPHEMERAL).get(0).trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return DEFAULT_EPHEMERAL_START;
    }
  }
}
