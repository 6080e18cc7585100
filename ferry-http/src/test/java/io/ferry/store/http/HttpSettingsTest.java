package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Server lists, options and the token, from the store URI, the settings and the environment. */
class HttpSettingsTest {
  private static HttpSettings parse(String uri, Map<String, String> settings, Map<String, String> env)
      throws InvalidInputException {
    return HttpSettings.parse(Ferry.toUri(uri), settings, env);
  }

  @Test
  void serverListsInFullOrShortForm() throws Exception {
    HttpSettings full = parse("http://a:8080,http://b:8080,https://c:8443/ferry/?balance=random", Map.of(), Map.of());
    assertThat(full.servers()).containsExactly(URI.create("http://a:8080"), URI.create("http://b:8080"),
        URI.create("https://c:8443/ferry"));
    assertThat(full.balance()).isEqualTo(HttpSettings.Balance.RANDOM);
    HttpSettings shortForm = parse("https://a:1,b:2,c", Map.of(), Map.of());
    assertThat(shortForm.servers()).containsExactly(URI.create("https://a:1"), URI.create("https://b:2"),
        URI.create("https://c"));
    assertThat(shortForm.describe()).isEqualTo("https://a:1,https://b:2,https://c");
  }

  /**
   * IPv6 literals in a list, in full or short form, with paths: a URI takes bare brackets only around a single host,
   * and such a list was refused ("server 'http://%5B::1%5D:8080' has no host", or "is not a valid URI: Illegal
   * character in path").
   */
  @Test
  void listsMayHoldIpv6Literals() throws Exception {
    assertThat(parse("http://[::1]:8080,http://127.0.0.1:8081", Map.of(), Map.of()).servers())
        .containsExactly(URI.create("http://[::1]:8080"), URI.create("http://127.0.0.1:8081"));
    assertThat(parse("http://a:8080,http://[fe80::2]:8080/ferry/?balance=random", Map.of(), Map.of()).servers())
        .containsExactly(URI.create("http://a:8080"), URI.create("http://[fe80::2]:8080/ferry"));
    HttpSettings shortForm = parse("https://[::1]:1/p%5Bx%5D,[::2]:2", Map.of(), Map.of());
    assertThat(shortForm.servers()).containsExactly(URI.create("https://[::1]:1/p%5Bx%5D"),
        URI.create("https://[::2]:2"));
    assertThat(shortForm.describe()).isEqualTo("https://[::1]:1/p%5Bx%5D,https://[::2]:2");
    assertThatThrownBy(() -> parse("http://[::1]:1,http://[::1]:1", Map.of(), Map.of()))
        .hasMessageContaining("server http://[::1]:1 is listed twice");
  }

  /** Errors about a list with IPv6 literals show it as the user wrote it, not with its brackets escaped. */
  @Test
  void errorsShowIpv6ServersAsWritten() {
    assertThatThrownBy(() -> parse("http://[::1]:1,[::1]:2/p%5Bx%5D?bogus=1", Map.of(), Map.of()))
        .hasMessageStartingWith("store URI 'http://[::1]:1,[::1]:2/p%5Bx%5D': unknown option 'bogus'");
    assertThatThrownBy(() -> parse("http://[::1]:1,[::1]:1", Map.of(), Map.of()))
        .hasMessage("store URI 'http://[::1]:1,[::1]:1': server http://[::1]:1 is listed twice");
    assertThatThrownBy(() -> parse("http://[::1]:1,ftp://[::2]:1", Map.of(), Map.of()))
        .hasMessage("store URI 'http://[::1]:1,ftp://[::2]:1': server 'ftp://[::2]:1' is not http:// or https://");
  }

  @Test
  void defaultsAndOptionsFromTheQueryAndTheSettings() throws Exception {
    HttpSettings d = parse("http://a:8080", Map.of(), Map.of());
    assertThat(d.balance()).isEqualTo(HttpSettings.Balance.LEAST_OUTSTANDING);
    assertThat(d.maxRequests()).isEqualTo(16);
    assertThat(d.hedge()).isTrue();
    assertThat(d.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(d.token()).isNull();
    HttpSettings o = parse("http://a:8080?max_requests=4&hedge=false&request_timeout_ms=1500&layers=",
        Map.of("http.max_requests", "8", "http.http_version", "1.1"), Map.of());
    assertThat(o.maxRequests()).as("settings win over the query").isEqualTo(8);
    assertThat(o.hedge()).isFalse();
    assertThat(o.requestTimeout()).isEqualTo(Duration.ofMillis(1500));
    assertThat(o.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
  }

  @Test
  void theTokenComesFromTheSettingElseTheEnvironmentAndIsNeverShown() throws Exception {
    assertThat(parse("http://a:1", Map.of(), Map.of("FERRY_TOKEN", "from-env")).token()).isEqualTo("from-env");
    HttpSettings s = parse("http://a:1", Map.of("http.token", "from-option"), Map.of("FERRY_TOKEN", "from-env"));
    assertThat(s.token()).isEqualTo("from-option");
    assertThat(s.toString()).doesNotContain("from-option").contains("token=(set)");
    assertThatThrownBy(() -> parse("http://a:1?token=abc123", Map.of(), Map.of()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("--token")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("abc123"));
    assertThatThrownBy(() -> parse("http://user:pw@a:1", Map.of(), Map.of()))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("credentials");
    // a token with a space or a line break inside was said to have characters outside printable ASCII
    assertThatThrownBy(() -> parse("http://a:1", Map.of(), Map.of("FERRY_TOKEN", " fry_abc\ndef\n")))
        .hasMessageContaining("the token (FERRY_TOKEN) has a line break at character 8 of 11")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("abc"));
    assertThatThrownBy(() -> parse("http://a:1", Map.of("http.token", "fry_abc def"), Map.of()))
        .hasMessageContaining("the token (--token) has a space at character 8 of 11");
    // a password in the URI was refused in a message that showed it
    for (String uri : List.of("http://user:s3cret@a:1", "http://a:1,user:s3cret@[::1]:2/p",
        "http://a:1,ftp://u:s3cret@b", "http://a:1,u:s3cret@b:1:2", "http://u:s3cret@a:1?bogus=1")) {
      assertThatThrownBy(() -> parse(uri, Map.of(), Map.of())).as(uri).isInstanceOf(InvalidInputException.class)
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("s3cret"));
    }
  }

  /** A large max_requests overflowed the pool's bounds into an internal error when the store was opened. */
  @Test
  void thePoolTakesTheLargestMaxRequests() throws Exception {
    for (String max : List.of("300000000", "1073741824", "2147483647")) {
      try (ServerPool pool = new ServerPool(parse("http://a:1,b:2?max_requests=" + max, Map.of(), Map.of()),
          notice -> { })) {
        assertThat(pool.settings().maxRequests()).isEqualTo(Integer.parseInt(max));
      }
    }
  }

  @Test
  void badListsAndOptionsAreNamed() {
    for (List<String> c : List.of(List.of("http://a:1,,b:2", "empty server"), List.of("http://a:1,ftp://b", "not http"),
        List.of("http://a:1,a:1", "listed twice"), List.of("http://a:1?balance=fastest", "balance 'fastest'"),
        List.of("http://a:1?max_requests=0", "max_requests '0'"), List.of("http://a:1?colour=red", "unknown option"),
        List.of("http://a:1?probe_min_ms=500&probe_max_ms=100", "probe_max_ms"),
        List.of("http://a:1?http_version=3", "http_version"),
        // a fragment was dropped without a word, so a URI that meant something else by it opened the store
        List.of("http://a:1/#x", "store URI 'http://a:1/': a fragment ('#...') has no meaning in a store URI"),
        List.of("http://a:1,b:2?hedge=false#x", "store URI 'http://a:1,b:2': a fragment ('#...') has no meaning"),
        // a whole number too large was said not to be a whole number
        List.of("http://a:1?request_timeout_ms=2147483648", "request_timeout_ms '2147483648' is above 2147483647"))) {
      assertThatThrownBy(() -> parse(c.get(0), Map.of(), Map.of())).as(c.get(0))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining(c.get(1));
    }
  }
}
