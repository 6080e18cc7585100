package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.testkit.NodePackages;
import io.ferry.testkit.NodePackages.Run;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Hugging Face client reads a model from the server: npm's {@code @huggingface/hub} (modelInfo, listFiles,
 * downloadFile) with {@code hubUrl} set to the server, installed by npm into {@code target/hfjs}. Skipped where node or
 * npm (or the npm registry) is missing, except under {@code CI=true}, where that fails.
 */
@Timeout(300)
class HfJsClientTest {
  static final String HUB_VERSION = "2.17.5";
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static ServerFixture fx;
  static Path work;

  @BeforeAll
  static void install() throws Exception {
    work = Path.of("target", "hfjs").toAbsolutePath();
    Files.createDirectories(work);
    try (InputStream in = HfJsClientTest.class.getResourceAsStream("/hfjs/read-model.mjs")) {
      Files.write(work.resolve("read-model.mjs"), in.readAllBytes());
    }
    NodePackages.install(work, "@huggingface/hub", HUB_VERSION);
    fx = new ServerFixture(tmp);
  }

  @AfterAll
  static void stop() throws Exception {
    if (fx != null) {
      fx.close();
    }
  }

  @Test
  void theHuggingFaceJsClientListsAndDownloadsEveryFileWithAToken() throws Exception {
    Path tokens = tmp.resolve("tokens.json");
    String token = TokenFile.create(tokens, "hf", List.of(Scope.parse("read:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    URI base = fx.start(ServerOptions.builder().tokens(TokenFile.open(tokens))).uri();
    Run r = NodePackages.run(work, 120, "node", "read-model.mjs", base.toString(), "org/tiny", "prod",
        "hf_" + token);
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode got = JSON.readTree(r.output().strip().lines().reduce((a, b) -> b).orElse("{}"));
    assertThat(got.get("name").asText()).isEqualTo("org/tiny");
    assertThat(got.get("sha").asText()).isEqualTo(fx.pushed.versionId().hex());
    List<Path> local;
    try (Stream<Path> s = Files.list(fx.dir.resolve("model"))) {
      local = s.sorted().toList();
    }
    assertThat(got.get("files")).hasSize(local.size());
    for (Path p : local) {
      byte[] bytes = Files.readAllBytes(p);
      String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
      JsonNode f = got.get("files").get(p.getFileName().toString());
      assertThat(f).as(p.getFileName().toString()).isNotNull();
      assertThat(f.get("length").asLong()).isEqualTo(bytes.length);
      assertThat(f.get("listedSize").asLong()).isEqualTo(bytes.length);
      assertThat(f.get("sha256").asText()).isEqualTo(sha);
      assertThat(f.get("lfsOid").asText()).isEqualTo(sha);
    }
    Run denied = NodePackages.run(work, 120, "node", "read-model.mjs", base.toString(), "org/tiny", "prod");
    assertThat(denied.code()).isNotZero();
  }
}
