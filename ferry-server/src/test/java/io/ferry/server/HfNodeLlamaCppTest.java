package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.repo.PushOptions;
import io.ferry.testkit.NodePackages;
import io.ferry.testkit.NodePackages.Run;
import io.ferry.version.FileEntry;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * node-llama-cpp (llama.cpp's JavaScript package) resolves a model URI by quantization, {@code hf:org/name:Q8_0},
 * against the server as its Hugging Face endpoint: it asks the manifest which file the tag names, downloads that file
 * through {@code resolve}, and reads it with its GGUF reader. Before the server answered {@code /v2/.../manifests/},
 * this failed with "Cannot get quantization". Installed by npm into {@code target/hfllama} without its install script
 * and optional dependencies (the prebuilt llama.cpp binaries, which resolving and reading need neither of); skipped
 * where node or npm is missing, except under {@code CI=true}.
 */
@Timeout(300)
class HfNodeLlamaCppTest {
  /** The version ferry-testkit's GgufLlamaCppTest checks Ferry's GGUF reader against. */
  static final String NODE_LLAMA_CPP = "3.22.1";
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static ServerFixture fx;
  static Path work;

  @BeforeAll
  static void install() throws Exception {
    work = Path.of("target", "hfllama").toAbsolutePath();
    Files.createDirectories(work);
    try (InputStream in = HfNodeLlamaCppTest.class.getResourceAsStream("/hfllama/resolve-model.mjs")) {
      Files.write(work.resolve("resolve-model.mjs"), in.readAllBytes());
    }
    NodePackages.requireNode(20);
    NodePackages.install(work, "node-llama-cpp", NODE_LLAMA_CPP,
        "--ignore-scripts", "--omit=optional");
    fx = new ServerFixture(tmp);
  }

  @AfterAll
  static void stop() throws Exception {
    if (fx != null) {
      fx.close();
    }
  }

  @Test
  void nodeLlamaCppDownloadsTheFileOfAQuantization() throws Exception {
    fx.repo.push(ModelAndHfApiTest.ggufRepository(tmp.resolve("gguf")), "org/tiny-gguf", PushOptions.builder()
        .message("m").author("test").build());
    List<FileEntry> files = fx.repo.snapshot(fx.repo.resolve("org/tiny-gguf")).files();
    URI base = fx.startDev().uri();
    for (String[] t : new String[][] {{"hf:org/tiny-gguf:Q8_0", "tiny-Q8_0.gguf", "Q8_0"},
        {"hf:org/tiny-gguf", "tiny-Q4_K_M.gguf", "Q4_K_M"}}) {
      Path dir = Files.createDirectories(tmp.resolve("models-" + t[2]));
      Run r = NodePackages.run(work, 120, "node", "resolve-model.mjs", base.toString(), t[0], dir.toString());
      assertThat(r.code()).as(r.output()).isZero();
      JsonNode got = JSON.readTree(r.output().strip().lines().reduce((a, b) -> b).orElse("{}"));
      String sha = files.stream().filter(f -> f.path().equals(t[1])).findFirst().orElseThrow().sha256();
      assertThat(got.get("sha256").asText()).as(t[0]).isEqualTo(sha);
      assertThat(got.get("name").asText()).as(t[0]).isEqualTo(t[2]);
      assertThat(got.get("tensors").toString()).as(t[0]).isEqualTo("[\"token_embd.weight\"]");
    }
    Run missing = NodePackages.run(work, 120, "node", "resolve-model.mjs", base.toString(), "hf:org/tiny-gguf:Q5_K_M",
        Files.createDirectories(tmp.resolve("none")).toString());
    assertThat(missing.code()).isNotZero();
    assertThat(missing.output()).contains("Cannot get quantization \"Q5_K_M\"");
  }
}
