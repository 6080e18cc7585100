package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.PipedReader;
import java.io.PipedWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** ferry token and ferry serve from the command line, the server in-process on a free port. */
@Timeout(120)
class ServeCommandTest {
  @TempDir Path tmp;

  @Test
  void tokensFromTheCliGuardAServerThatPrintsItsUrl() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.writeString(src.resolve("config.json"), "{\"a\": 1}");
    String v = cli.push(src, "org/m:prod");
    Path tokens = tmp.resolve("tokens.json");

    Cli.Result created = Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "read:org/*",
        "--name", "reader").ok();
    String[] words = created.out().strip().split("\\s+");
    String token = words[words.length - 1];
    assertThat(token).startsWith("fry_");
    assertThat(Files.readString(tokens)).doesNotContain(token);
    assertThat(Cli.raw("token", "list", "--tokens", tokens.toString()).ok().out()).contains("reader")
        .contains("read:org/*").doesNotContain(token);
    Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "wirte:x").exits(1)
        .oneLineError("scope 'wirte:x' is invalid");
    // an empty --name (an unset shell variable) made a token named token-<id> instead of saying so
    String before = Files.readString(tokens);
    assertThat(Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "read:*", "--name", " ")
        .exits(FerryCli.USAGE).err()).contains("--name is empty");
    assertThat(Files.readString(tokens)).isEqualTo(before);

    Path log = tmp.resolve("access.log");
    String[] args = {"serve", "--store", tmp.resolve("store").toString(), "--listen", "127.0.0.1:0", "--tokens",
        tokens.toString(), "--access-log", log.toString()};
    PipedWriter pipe = new PipedWriter();
    BufferedReader lines = new BufferedReader(new PipedReader(pipe, 1 << 16));
    StringWriter err = new StringWriter();
    int[] code = {-1};
    Thread server = new Thread(() -> {
      CommandLine cmd = FerryCli.commandLineFor(args);
      cmd.setOut(new PrintWriter(pipe, true));
      cmd.setErr(new PrintWriter(err, true));
      code[0] = cmd.execute(args);
    }, "serve");
    server.start();
    try {
      String line = lines.readLine();
      Matcher m = Pattern.compile("listening on (\\S+)").matcher(line);
      assertThat(m.find()).as(line + err).isTrue();
      URI base = URI.create(m.group(1));
      assertThat(base.getPort()).isPositive();
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      HttpRequest.Builder ref = HttpRequest.newBuilder(base.resolve("/v1/store/refs/org/m/tags/prod"))
          .timeout(Duration.ofSeconds(30));
      assertThat(http.send(ref.build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
      HttpResponse<String> ok = http.send(ref.header("Authorization", "Bearer " + token).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(ok.statusCode()).isEqualTo(200);
      assertThat(ok.body()).contains(v);
      Cli.raw("token", "revoke", "--tokens", tokens.toString(), "reader").ok();
      assertThat(http.send(ref.build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
      assertThat(awaitLines(log, " reader GET /v1/store/refs/org/m/tags/prod 200 ",
          " - GET /v1/store/refs/org/m/tags/prod 401 ")).contains(" reader GET /v1/store/refs/org/m/tags/prod 200 ")
          .contains(" - GET /v1/store/refs/org/m/tags/prod 401 ");
    } finally {
      server.interrupt();
      server.join(TimeUnit.SECONDS.toMillis(30));
    }
    assertThat(server.isAlive()).isFalse();
    assertThat(code[0]).isZero();
  }

  /**
   * The access log once it holds every one of {@code parts}, or as it is after 60 s: the server writes a request's line
   * after its response is complete, so a client can see the answer before the line is there.
   */
  private static String awaitLines(Path log, String... parts) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      String text = Files.exists(log) ? Files.readString(log) : "";
      if (java.util.Arrays.stream(parts).allMatch(text::contains) || System.nanoTime() > deadline) {
        return text;
      }
      java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
    }
  }

  @Test
  void aMistypedOrUnreadableTokensFileIsRefusedAndNothingIsCreated() throws Exception {
    Path missing = tmp.resolve("tokns.json");
    Cli.raw("token", "list", "--tokens", missing.toString()).exits(1)
        .oneLineError(missing.toString(), "tokens file does not exist");
    Cli.raw("token", "revoke", "--tokens", missing.toString(), "reader").exits(1)
        .oneLineError(missing.toString(), "tokens file does not exist");
    assertThat(tmp).isEmptyDirectory();

    // a device never ends: it was read whole into the heap (out of memory); a FIFO blocked the same way
    Path device = Path.of("/dev/zero");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device));
    Cli.raw("token", "list", "--tokens", device.toString()).exits(1)
        .oneLineError("tokens file /dev/zero is not a regular file");
    Cli.raw("token", "create", "--tokens", device.toString(), "--scope", "read:*").exits(1)
        .oneLineError("tokens file /dev/zero is not a regular file");
    assertThat(Path.of("/dev/zero.lock")).doesNotExist();
  }

  @Test
  void aTokenNameThatLooksLikeAnIdOrHoldsALineBreakIsRefused() throws Exception {
    Path tokens = tmp.resolve("tokens.json");
    Cli.Result first = Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "read:*", "--json").ok();
    String id = first.json().get("id").asText();
    // named as the first token's id, 'ferry token revoke ID' removed both tokens
    Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "admin", "--name", id).exits(1)
        .oneLineError("token name '" + id + "'", "12 hex digits");
    Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "admin", "--name", "ci\nadmin ok").exits(1)
        .oneLineError("token name", "U+000A", "index 2");
    Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "admin", "--name", "ci\u200f").exits(1)
        .oneLineError("token name", "U+200F");
    assertThat(Cli.raw("token", "list", "--tokens", tokens.toString(), "--json").ok().json()).hasSize(1);
    // a scope given twice is listed once
    String twice = Cli.raw("token", "create", "--tokens", tokens.toString(), "--scope", "read:org/*", "--scope",
        "admin", "--scope", "read:org/*", "--json").ok().json().get("scopes").toString();
    assertThat(twice).isEqualTo("[\"read:org/*\",\"admin\"]");
  }

  @Test
  void withJsonTheServerPrintsItsUrlAsOneJsonLineAndItsNoticeAsJson() throws Exception {
    new Cli(tmp.resolve("store")).init();
    String[] args = {"serve", "--store", tmp.resolve("store").toString(), "--listen", "127.0.0.1:0", "--json"};
    PipedWriter pipe = new PipedWriter();
    BufferedReader lines = new BufferedReader(new PipedReader(pipe, 1 << 16));
    StringWriter err = new StringWriter();
    Thread server = new Thread(() -> {
      CommandLine cmd = FerryCli.commandLineFor(args);
      cmd.setOut(new PrintWriter(pipe, true));
      cmd.setErr(new PrintWriter(err, true));
      cmd.execute(args);
    }, "serve");
    server.start();
    try {
      com.fasterxml.jackson.databind.JsonNode started = Cli.JSON.readTree(lines.readLine());
      assertThat(started.get("url").asText()).matches("http://127\\.0\\.0\\.1:[1-9][0-9]*");
      assertThat(started.get("store").asText()).startsWith("file:");
      for (String line : err.toString().strip().split("\n")) {
        assertThat(Cli.JSON.readTree(line).get("kind").asText()).as("stderr line %s", line).isEqualTo("info");
      }
      assertThat(err.toString()).contains("development server");
    } finally {
      server.interrupt();
      server.join(TimeUnit.SECONDS.toMillis(30));
    }
    assertThat(server.isAlive()).isFalse();
  }

  @Test
  void aDevelopmentServerListensOnLoopbackOnly() throws Exception {
    new Cli(tmp.resolve("store")).init();
    Cli.raw("serve", "--store", tmp.resolve("store").toString(), "--listen", "0.0.0.0:0").exits(1)
        .oneLineError("development server", "loopback", "--tokens");
  }

  @Test
  void optionValuesAServerCannotTakeAreUsageErrorsNamingTheOption() throws Exception {
    new Cli(tmp.resolve("store")).init();
    String[][] bad = {{"--listen", "127.0.0.1:-1"}, {"--listen", "127.0.0.1:65536"}, {"--listen", "8080"},
        {"--listen", "localhost:http"}, {"--max-object-size", "0"}, {"--max-object-size", "1023"},
        {"--idle-timeout", "0"}, {"--tls-cert", "cert.pem"}};
    for (String[] b : bad) {
      String err = Cli.raw("serve", "--store", tmp.resolve("store").toString(), b[0], b[1]).exits(FerryCli.USAGE)
          .err();
      assertThat(err).as("error of serve %s %s", b[0], b[1]).contains(b[0]);
    }
    // --max-object-size takes a unit as --min-held-rate does (it said "'0k' is not a long"), and help shows it so
    assertThat(Cli.raw("serve", "--store", tmp.resolve("store").toString(), "--max-object-size", "0k")
        .exits(FerryCli.USAGE).err()).contains("--max-object-size must be at least 1024 bytes, not '0k'");
    // the value as given, not as Java prints it ("not 'PT0S'")
    assertThat(Cli.raw("serve", "--store", tmp.resolve("store").toString(), "--idle-timeout", "0s")
        .exits(FerryCli.USAGE).err()).contains("--idle-timeout must be longer than 0, not '0s'");
    assertThat(Cli.raw("serve", "--store", tmp.resolve("store").toString(), "--max-object-size", "12x")
        .exits(FerryCli.USAGE).err()).contains("--max-object-size").contains("'12x' is not a byte count");
    assertThat(Cli.raw("serve", "--help").ok().out()).contains("(default: 129m)");
    String[][] explained = {{":8080", "the host is missing (127.0.0.1:8080"}, {"[::1", "in brackets, [::1]:8080"},
        {"[::1]8080", "in brackets"}};
    for (String[] b : explained) {
      assertThat(Cli.raw("serve", "--store", tmp.resolve("store").toString(), "--listen", b[0])
          .exits(FerryCli.USAGE).err()).as("error of serve --listen %s", b[0]).contains("--listen '" + b[0] + "'")
          .contains(b[1]);
    }
  }

  @Test
  void theMinimumRateOfATransferHoldingMemoryIsAnOptionAboveZero() throws Exception {
    new Cli(tmp.resolve("store")).init();
    assertThat(Cli.raw("serve", "--help").ok().out()).contains("--min-held-rate=RATE").contains("default: 256k");
    String[][] bad = {{"0", "'0' is not above 0"}, {"-1k", "'-1k' is not above 0"}, {"fast", "'fast' is not a rate"},
        {"1x", "'1x' is not a rate"}, {"k", "'k' is not a rate"}, {"17g", "at most 17179869184 bytes per second"},
        {"99999999999999999999", "is too large"}};
    for (String[] b : bad) {
      String err = Cli.raw("serve", "--store", tmp.resolve("store").toString(), "--min-held-rate", b[0])
          .exits(FerryCli.USAGE).err();
      assertThat(err).as("error of serve --min-held-rate %s", b[0]).contains("--min-held-rate").contains(b[1]);
    }
    ByteRateConverter rate = new ByteRateConverter();
    assertThat(List.of("262144", "256k", "256KiB", "256k/s", "1m", "1MiB", "2g"))
        .extracting(rate::convert).containsExactly(262144L, 262144L, 262144L, 262144L, 1L << 20, 1L << 20, 2L << 30);
  }

  @Test
  void originsThatMayCallTheServerAreCheckedBeforeItStarts() throws Exception {
    new Cli(tmp.resolve("store")).init();
    String store = tmp.resolve("store").toString();
    assertThat(Cli.raw("serve", "--store", store, "--listen", "127.0.0.1:0", "--cors-origin", "*")
        .exits(FerryCli.USAGE).err()).contains("--cors-origin '*' needs --tokens");
    assertThat(Cli.raw("serve", "--store", store, "--listen", "127.0.0.1:0", "--cors-origin",
        "https://ok.example,https://app/").exits(FerryCli.USAGE).err())
        .contains("--cors-origin 'https://app/' is not an origin", "final '/'");
    assertThat(Cli.raw("serve", "--store", store, "--listen", "127.0.0.1:0", "--cors-origin", "app.example:3000")
        .exits(FerryCli.USAGE).err()).contains("'app.example:3000' is not an origin", "scheme://host[:port]");
  }

  @Test
  void aPublicUrlIsAnHttpOrHttpsUrlWithoutSecretsQueryOrFragment() throws Exception {
    new Cli(tmp.resolve("store")).init();
    String store = tmp.resolve("store").toString();
    assertThat(Cli.raw("serve", "--help").ok().out()).contains("--public-url=URL");
    String[][] bad = {{"models.example.com", "http:// or https://"},
        {"ftp://models.example.com", "http:// or https://"},
        {"https://user:secret@models.example.com", "user information"}, {"https://models.example.com/?a=1", "query"},
        {"https://models.example.com/#top", "fragment"}, {"https://example.com/ferry", "must not have a path"},
        {"https:///path", "no host"}, {"https://a b", "not a URL"},
        // user information in a URL refused for another reason was shown with its password
        {"https://user:secret@models.example.com/ x", "not a URL"}, {"https://user:secret@bad_host", "no host"}};
    for (String[] b : bad) {
      String err = Cli.raw("serve", "--store", store, "--listen", "127.0.0.1:0", "--public-url", b[0])
          .exits(FerryCli.USAGE).err();
      assertThat(err).as("error of serve --public-url %s", b[0]).contains("--public-url").contains(b[1])
          .doesNotContain("secret");
    }
  }
}
