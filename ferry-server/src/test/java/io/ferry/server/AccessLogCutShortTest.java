package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.chunk.Frame;
import io.ferry.codec.NoneCodec;
import io.ferry.id.ChunkId;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The access log tells a body the client cut short from one the server finished. */
@Timeout(120)
class AccessLogCutShortTest {
  /** Bytes of the object the tests read: more than loopback's socket buffers hold. */
  private static final int BIG = 24 << 20;

  @TempDir Path tmp;

  /** Stores one loose uncompressed object of {@link #BIG} random bytes; returns its id. */
  private static ChunkId bigObject(ServerFixture fx, long seed) throws java.io.IOException {
    byte[] bytes = new byte[BIG];
    new Random(seed).nextBytes(bytes);
    ChunkId id = ChunkId.of(bytes);
    ByteBuffer payload = ByteBuffer.wrap(bytes);
    fx.repo.backend().chunks().put(id, Frame.header(id, NoneCodec.ID, 0, bytes.length, payload), payload);
    return id;
  }

  @Test
  void aClientThatLeavesInTheMiddleOfAChunkIsLoggedWithWhatWasSentAndCutShort() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      // one loose object of 24 MiB: more than loopback's socket buffers hold, so the server is still writing when
      // the client leaves
      ChunkId id = bigObject(fx, 3);
      long size = fx.repo.backend().chunks().size(id);
      assertThat(size).isGreaterThan(BIG);
      URI base = fx.startDev().uri();

      String path = "/v1/store/chunks/" + id.hex();
      try (Socket s = new Socket()) {
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress(base.getHost(), base.getPort()));
        OutputStream out = s.getOutputStream();
        out.write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        InputStream in = s.getInputStream();
        byte[] first = in.readNBytes(4096);
        assertThat(new String(first, StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200");
        s.setSoLinger(true, 0); // a reset, as a killed client's kernel sends
      }
      // a whole answer of the same object, for contrast
      try (Socket s = new Socket(base.getHost(), base.getPort())) {
        s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-99\r\n"
            + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        s.getInputStream().readAllBytes();
      }
      List<String> lines = fx.accessLog.await(l -> l.contains(" GET " + path + " "), 2);
      assertThat(lines).hasSize(2);
      String cut = lines.stream().filter(l -> l.contains(" 200 ")).findFirst().orElseThrow();
      assertThat(cut).endsWith(" cut-short");
      long sent = Long.parseLong(cut.split(" ")[6]);
      assertThat(sent).isLessThan(size);
      String whole = lines.stream().filter(l -> l.contains(" 206 ")).findFirst().orElseThrow();
      assertThat(whole).contains(" 206 100 ").doesNotContain("cut-short");
    }
  }

  /**
   * The server's store failing in the middle of an answer (here: the object cut short under it) is the server's
   * failure: the line says why, where a client that left says nothing more than cut-short.
   */
  @Test
  void aStoreThatFailsInTheMiddleOfAnAnswerIsLoggedWithItsError() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      ChunkId id = bigObject(fx, 4);
      URI base = fx.startDev().uri();
      Path object = tmp.resolve("store/objects").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
      assertThat(object).exists();

      String path = "/v1/store/chunks/" + id.hex();
      try (Socket s = new Socket()) {
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress(base.getHost(), base.getPort()));
        s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        assertThat(new String(in.readNBytes(4096), StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200");
        // the server is blocked writing; the object loses its second half under it
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(object,
            java.nio.file.StandardOpenOption.WRITE)) {
          ch.truncate(BIG / 2);
        }
        in.readAllBytes(); // until the server closes the connection
      }
      String line = fx.accessLog.await(l -> l.contains(" GET " + path + " "), 1).get(0);
      assertThat(line).contains(" 200 ").contains(" cut-short error: ").contains(id.hex());
    }
  }
}
