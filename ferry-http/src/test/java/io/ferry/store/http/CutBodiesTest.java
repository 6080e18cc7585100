package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A chunked body cut off mid-way (a server or proxy that dies while it answers) fails the call saying that the
 * answer broke off and after how many bytes; the error used to be the JDK client's own words, "chunked transfer
 * encoding, state: READING_LENGTH".
 */
@Timeout(60)
class CutBodiesTest {
  @Test
  void aChunkedBodyCutMidwaySaysItBrokeOff() throws Exception {
    try (ServerSocket listener = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
      Thread server = new Thread(() -> {
        while (!listener.isClosed()) {
          try (Socket s = listener.accept()) {
            InputStream in = s.getInputStream();
            for (int state = 0; state < 4; ) { // to the end of the request's head
              int b = in.read();
              state = b < 0 ? 4 : (b == (state % 2 == 0 ? '\r' : '\n')) ? state + 1 : 0;
            }
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "a\r\n{\"id\": \"12\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
          } catch (IOException e) {
            // closed
          }
        }
      });
      server.setDaemon(true);
      server.start();
      URI uri = URI.create("http://" + InetAddress.getLoopbackAddress().getHostAddress() + ":"
          + listener.getLocalPort());
      assertThatThrownBy(() -> HttpBackend.open(uri, StoreOptions.existing(), Map.of()).close())
          .isInstanceOf(IOException.class).hasMessageContaining("read the store's description")
          .hasMessageContaining("the answer's body broke off after 10 bytes");
    }
  }
}
