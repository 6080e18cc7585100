package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreOptions;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A server that redirects (a proxy sending http:// to https://, or elsewhere) is not followed, so the token never
 * reaches a host the store URI does not list; the error says where the redirect points, without its query (which may
 * hold a signature), and what to do. It said only "the server answered 302, expected 200".
 */
@Timeout(60)
class RedirectsTest {
  @Test
  void aRedirectIsNotFollowedAndSaysWhereItPoints() throws Exception {
    InetAddress loopback = InetAddress.getLoopbackAddress();
    HttpServer elsewhere = HttpServer.create(new InetSocketAddress(loopback, 0), 8);
    AtomicInteger reached = new AtomicInteger();
    elsewhere.createContext("/", ex -> {
      reached.incrementAndGet();
      ex.sendResponseHeaders(404, -1);
      ex.close();
    });
    HttpServer redirecting = HttpServer.create(new InetSocketAddress(loopback, 0), 8);
    String target = "http://" + loopback.getHostAddress() + ":" + elsewhere.getAddress().getPort();
    redirecting.createContext("/", ex -> {
      ex.getResponseHeaders().set("Location", target + ex.getRequestURI().getRawPath() + "?X-Signature=s3cret");
      ex.sendResponseHeaders(302, -1);
      ex.close();
    });
    elsewhere.start();
    redirecting.start();
    try {
      URI uri = URI.create("http://" + loopback.getHostAddress() + ":" + redirecting.getAddress().getPort());
      for (Map<String, String> settings : java.util.List.of(Map.<String, String>of(),
          Map.of(HttpSettings.TOKEN, "the-token", "http.http_version", "1.1"))) {
        assertThatThrownBy(() -> HttpBackend.open(uri, new StoreOptions(false, settings), Map.of()).close())
            .isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("answered 302, a redirect to '" + target + "/v1/store'")
            .hasMessageContaining("Ferry follows no redirects")
            .satisfies(e -> assertThat(e.getMessage()).doesNotContain("s3cret").doesNotContain("the-token"));
      }
      assertThat(reached).as("requests that reached the host redirected to").hasValue(0);
    } finally {
      redirecting.stop(0);
      elsewhere.stop(0);
    }
  }
}
