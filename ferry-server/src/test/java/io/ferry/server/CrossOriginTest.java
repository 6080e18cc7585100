package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.server.auth.TokenFile;
import io.ferry.server.http.CrossOrigin;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cross-origin calls from web pages (serve --cors-origin): a preflight answered without a token, the answers of an
 * allowed origin readable with the headers Hugging Face clients read, nothing for other origins. WebUiBrowserTest
 * makes the same calls from a real browser.
 */
@Timeout(120)
class CrossOriginTest {
  static final String APP = "http://app.example:3000";
  @TempDir static Path tmp;
  static ServerFixture fx;
  static URI secured;
  static URI open;
  static URI plain;
  static String token;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
    token = fx.token("reader", "read:*");
    secured = fx.start(ServerOptions.builder().tokens(TokenFile.open(fx.tokens()))
        .crossOrigin(CrossOrigin.of(List.of("HTTP://App.Example:3000", "https://other.example:443")))).uri();
    open = fx.start(ServerOptions.builder().tokens(TokenFile.open(fx.tokens())).crossOrigin(CrossOrigin.of(
        List.of("*")))).uri();
    plain = fx.startWithTokens().uri();
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  static HttpResponse<byte[]> preflight(URI base, String path, String origin) throws Exception {
    return fx.send(get(base, path).method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", origin)
        .header("Access-Control-Request-Method", "GET").header("Access-Control-Request-Headers",
            "authorization,range"));
  }

  @Test
  void aPreflightFromAnAllowedOriginIsAnsweredWithoutAToken() throws Exception {
    for (String origin : List.of(APP, "https://other.example")) {
      HttpResponse<byte[]> r = preflight(secured, "/org/tiny/resolve/main/config.json", origin);
      assertThat(r.statusCode()).as(origin).isEqualTo(204);
      assertThat(r.headers().firstValue("access-control-allow-origin")).hasValue(origin);
      assertThat(r.headers().firstValue("access-control-allow-headers")).hasValue("authorization,range");
      assertThat(r.headers().firstValue("access-control-allow-methods").orElseThrow()).contains("GET", "PUT");
      assertThat(r.headers().firstValue("access-control-max-age")).hasValue("600");
      assertThat(r.headers().allValues("vary").toString()).contains("Origin");
      assertThat(r.headers().firstValue("access-control-allow-credentials")).isEmpty();
      // RFC 9110 (8.6): no Content-Length on a 204
      assertThat(r.headers().firstValue("content-length")).isEmpty();
      assertThat(r.body()).isEmpty();
    }
  }

  @Test
  void anAllowedOriginReadsTheAnswerAndTheHeadersHuggingFaceClientsRead() throws Exception {
    HttpResponse<byte[]> r = fx.send(get(secured, "/org/tiny/resolve/main/config.json").header("Origin", APP)
        .header("Authorization", "Bearer " + token));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("llama");
    assertThat(r.headers().firstValue("access-control-allow-origin")).hasValue(APP);
    assertThat(r.headers().firstValue("access-control-expose-headers").orElseThrow())
        .contains("X-Repo-Commit", "X-Linked-Etag", "X-Linked-Size", "ETag", "Content-Range", "X-Error-Message");
    // an error is readable too, so that a page can tell a missing token from a missing file
    HttpResponse<byte[]> denied = fx.send(get(secured, "/org/tiny/resolve/main/config.json").header("Origin", APP));
    assertThat(denied.statusCode()).isEqualTo(401);
    assertThat(denied.headers().firstValue("access-control-allow-origin")).hasValue(APP);
    // a cache in front must keep answers apart by origin, also the answer to a client that sent none
    HttpResponse<byte[]> script = fx.send(get(secured, "/org/tiny/resolve/main/config.json")
        .header("Authorization", "Bearer " + token));
    assertThat(script.headers().allValues("vary").toString()).contains("Origin");
    assertThat(script.headers().firstValue("access-control-allow-origin")).isEmpty();
    HttpResponse<byte[]> any = fx.send(get(open, "/org/tiny/resolve/main/config.json").header("Origin",
        "https://anywhere.example").header("Authorization", "Bearer " + token));
    assertThat(any.statusCode()).isEqualTo(200);
    assertThat(any.headers().firstValue("access-control-allow-origin")).hasValue("*");
  }

  @Test
  void anotherOriginGetsNothingThatLetsItsPageRead() throws Exception {
    for (URI base : List.of(secured, plain)) {
      HttpResponse<byte[]> r = preflight(base, "/org/tiny/resolve/main/config.json", "https://evil.example");
      assertThat(r.statusCode()).as(base.toString()).isEqualTo(403);
      assertThat(r.headers().firstValue("access-control-allow-origin")).isEmpty();
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("https://evil.example", "--cors-origin");
      HttpResponse<byte[]> got = fx.send(get(base, "/org/tiny/resolve/main/config.json")
          .header("Origin", "https://evil.example").header("Authorization", "Bearer " + token));
      assertThat(got.statusCode()).isEqualTo(200);
      assertThat(got.headers().firstValue("access-control-allow-origin")).isEmpty();
      assertThat(got.headers().firstValue("access-control-expose-headers")).isEmpty();
    }
    // same scheme and host on another port, or another scheme, is another origin
    for (String near : List.of("http://app.example:3001", "https://app.example:3000", "http://app.example")) {
      assertThat(preflight(secured, "/v1/health", near).statusCode()).as(near).isEqualTo(403);
    }
  }

  /**
   * Behind a proxy that ends TLS, the store browser's forms come from the public origin ({@code --public-url}), which
   * is this server's own: its login was refused as cross-origin (the request's scheme is the proxy's http), and its
   * cookie went without {@code Secure}. A page of another origin is still refused.
   */
  @Test
  void behindAProxyTheStoreBrowsersFormsComeFromThePublicUrl() throws Exception {
    URI behind = fx.start(ServerOptions.builder().tokens(TokenFile.open(fx.tokens()))
        .publicUrl("https://models.example.com/")).uri();
    for (String origin : List.of("https://models.example.com", "https://models.example.com:443", "https://evil.example",
        "http://models.example.com")) {
      HttpResponse<byte[]> r = fx.send(get(behind, "/ui/login").header("Origin", origin)
          .header("Content-Type", "application/x-www-form-urlencoded")
          .POST(HttpRequest.BodyPublishers.ofString("token=" + token)));
      if (origin.contains("evil") || origin.startsWith("http:")) {
        assertThat(r.statusCode()).as(origin).isEqualTo(403);
      } else {
        assertThat(r.statusCode()).as(origin).isEqualTo(303);
        assertThat(r.headers().firstValue("set-cookie").orElse("")).as(origin).contains("; Secure");
      }
    }
  }

  @Test
  void originsAreCheckedWhenTheServerIsMade() {
    for (String bad : List.of("app.example", "https://app.example/", "https://app.example/x", "https://u@app.example",
        "https://app.example?x", "null", "")) {
      assertThatThrownBy(() -> CrossOrigin.of(List.of(bad))).as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'" + bad + "' is not an origin");
    }
    // every origin on a development server would let any page opened on the machine read and change the store
    assertThatThrownBy(() -> ServerOptions.builder().crossOrigin(CrossOrigin.of(List.of("*"))).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("development server");
    assertThat(ServerOptions.builder().crossOrigin(CrossOrigin.of(List.of(APP))).build().crossOrigin().origins())
        .containsExactly(APP);
  }
}
