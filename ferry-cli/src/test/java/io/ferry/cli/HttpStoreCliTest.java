package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI against real servers ({@link FerryServer}, what {@code ferry serve} runs) with tokens: push through one
 * server and pull through another, copy between an HTTP store and local stores; same version ids everywhere, and the
 * token never printed.
 */
@Timeout(120)
class HttpStoreCliTest {
  @TempDir Path tmp;

  private final List<FerryServer> servers = new ArrayList<>();
  private final List<Repository> stores = new ArrayList<>();
  private String token;
  private Path tokens;
  private Path src;

  @BeforeEach
  void model() throws IOException {
    tokens = tmp.resolve("tokens");
    token = TokenFile.create(tokens, "ci", List.of(Scope.parse("read:org/*"), Scope.parse("write:org/*")),
        Clock.systemUTC(), new SecureRandom()).token();
    src = tmp.resolve("src");
    Files.createDirectories(src.resolve("weights"));
    byte[] b = new byte[3 << 20];
    new Random(21).nextBytes(b);
    Files.write(src.resolve("weights/model.bin"), b);
    Files.writeString(src.resolve("config.json"), "{\"layers\": 2}");
  }

  @AfterEach
  void stop() throws IOException {
    for (FerryServer s : servers) {
      s.close();
    }
    for (Repository r : stores) {
      r.close();
    }
  }

  /** A server with the test's tokens over the store in {@code dir} (created if missing). */
  private String serve(Path dir) throws IOException {
    Repository store = Ferry.open(dir.toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    stores.add(store);
    FerryServer s = FerryServer.start(store, ServerOptions.builder().listen("127.0.0.1", 0)
        .tokens(TokenFile.open(tokens)).build());
    servers.add(s);
    return "http://127.0.0.1:" + s.port();
  }

  private Cli.Result ferry(String... args) {
    Cli.Result r = Cli.raw(args);
    assertThat(r.out() + r.err()).as("output of ferry %s", String.join(" ", args)).doesNotContain(token);
    return r;
  }

  @Test
  void pushThroughOneServerAndPullThroughAnotherGiveOneVersion() throws IOException {
    Path store = tmp.resolve("store");
    String a = serve(store);
    String b = serve(store);
    String pushed = ferry("--token", token, "push", src.toString(), "org/m:prod", "--store", a, "--json").ok().json()
        .path("version").asText();
    assertThat(pushed).hasSize(64);
    Path out = tmp.resolve("out");
    String pulled = ferry("--store", b, "--token", token, "pull", "org/m:prod", out.toString(), "--json").ok().json()
        .path("version").asText();
    assertThat(pulled).isEqualTo(pushed);
    Cli.assertSameTree(src, out);
    // through both servers at once, and the everyday commands
    String both = a + "," + b;
    assertThat(ferry("ls", "--store", both, "--token", token).ok().out()).contains("org/m");
    ferry("tag", "org/m:prod", "stable", "--store", both, "--token", token).ok();
    assertThat(ferry("log", "org/m:stable", "--store", b, "--token", token, "--json").ok().out()).contains(pushed);
    try (Repository direct = Ferry.open(store.toString())) {
      assertThat(direct.resolve("org/m:stable").id().hex()).isEqualTo(pushed);
    }
    Cli.Result refused = ferry("pull", "org/m:prod", tmp.resolve("no").toString(), "--store", a);
    assertThat(refused.code()).isEqualTo(1);
    assertThat(refused.err()).contains("401").contains("--token");
  }

  /**
   * gc through a server with a token that may read or write models but is not admin: the refusal said only that the
   * first request (listing records) needs write access, which the write token has and which is not enough either.
   */
  @Test
  void gcWithATokenShortOfAdminIsRefusedNamingTheAdminScope() throws IOException {
    String reader = TokenFile.create(tokens, "reader", List.of(Scope.parse("read:*")), Clock.systemUTC(),
        new SecureRandom()).token();
    String a = serve(tmp.resolve("store"));
    ferry("push", src.toString(), "org/m", "--store", a, "--token", token).ok();
    for (String t : List.of(reader, token)) {
      for (String dry : List.of("--dry-run", "--grace=0s")) {
        Cli.Result r = ferry("gc", dry, "--store", a, "--token", t);
        assertThat(r.code()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains("gc lists and removes objects across the whole store " + a)
            .contains("which needs a token with the admin scope; ").contains("(403)");
      }
    }
    assertThat(ferry("verify", "org/m", "--store", a, "--token", token).ok().out()).startsWith("ok: 1 version");
  }

  @Test
  void copyFromAnHttpStoreToALocalOneAndOnToAnotherServerKeepsTheVersionId() throws IOException {
    String a = serve(tmp.resolve("store-a"));
    String pushed = ferry("push", src.toString(), "org/m:prod", "--store", a, "--token", token, "--json").ok().json()
        .path("version").asText();
    Path local = tmp.resolve("local");
    String copied = ferry("copy", "org/m:prod", "--store", a, "--token", token, "--to", local.toString(), "--json")
        .ok().json().path("version").asText();
    assertThat(copied).isEqualTo(pushed);
    String c = serve(tmp.resolve("store-c"));
    String copiedOn = ferry("copy", "org/m:prod", "--store", local.toString(), "--to", c, "--token", token, "--json")
        .ok().json().path("version").asText();
    assertThat(copiedOn).isEqualTo(pushed);
    Path out = tmp.resolve("out");
    assertThat(ferry("pull", "org/m:prod", out.toString(), "--store", c, "--token", token, "--verify", "--json").ok()
        .json().path("version").asText()).isEqualTo(pushed);
    Cli.assertSameTree(src, out);
  }
}
