package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.repo.PushOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.testkit.NodePackages;
import io.ferry.testkit.NodePackages.Run;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hugging Face's transformers.js loads a model from the server and runs it: npm's {@code @huggingface/transformers}
 * with {@code env.remoteHost} set to the server and a read token sent through {@code env.fetch} (transformers.js sends
 * {@code HF_TOKEN} to huggingface.co only), onnxruntime on CPU. The model is
 * a Hugging Face layout pushed to Ferry ({@code config.json} of a BERT, {@code onnx/model.onnx}: an embedding lookup
 * masked by the attention mask, {@link TinyOnnx}); the output for a fixed input must be the table's rows, so every
 * weight came through Ferry intact. Installed by npm into {@code target/hfjs-transformers} (with {@code
 * --ignore-scripts}: onnxruntime-node's install script fetches GPU providers from NuGet; the CPU binary is in the
 * package). Skipped where node or npm (or the npm registry) is missing, except under {@code CI=true}, where that fails.
 */
@Timeout(400)
class HfTransformersJsTest {
  static final String TRANSFORMERS_VERSION = "4.3.1";
  static final int VOCAB = 16;
  static final int HIDDEN = 8;
  @TempDir static Path tmp;
  static ServerFixture fx;
  static Path work;

  @BeforeAll
  static void install() throws Exception {
    work = Path.of("target", "hfjs-transformers").toAbsolutePath();
    Files.createDirectories(work);
    try (InputStream in = HfTransformersJsTest.class.getResourceAsStream("/hfjs/run-model.mjs")) {
      Files.write(work.resolve("run-model.mjs"), in.readAllBytes());
    }
    // --ignore-scripts: onnxruntime-node's install script fetches GPU providers; the CPU binary is in the package
    NodePackages.install(work, "@huggingface/transformers", TRANSFORMERS_VERSION, "--ignore-scripts");
    fx = new ServerFixture(tmp);
  }

  @AfterAll
  static void stop() throws Exception {
    if (fx != null) {
      fx.close();
    }
  }

  @Test
  void transformersJsLoadsAnOnnxModelFromTheServerAndRunsIt() throws Exception {
    float[] table = new float[VOCAB * HIDDEN];
    SplittableRandom rnd = new SplittableRandom(13);
    for (int i = 0; i < table.length; i++) {
      table[i] = (float) (rnd.nextDouble() * 2 - 1);
    }
    Path model = Files.createDirectories(tmp.resolve("embed"));
    Files.writeString(model.resolve("config.json"), "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"],"
        + " \"vocab_size\": " + VOCAB + ", \"hidden_size\": " + HIDDEN + ", \"num_attention_heads\": 1,"
        + " \"num_hidden_layers\": 0}");
    Files.write(Files.createDirectories(model.resolve("onnx")).resolve("model.onnx"),
        TinyOnnx.embedding(table, VOCAB, HIDDEN));
    fx.repo.push(model, "org/embed:prod", PushOptions.builder().message("embedding").author("test").build());

    Path tokens = tmp.resolve("tokens.json");
    String token = TokenFile.create(tokens, "tjs", List.of(Scope.parse("read:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    URI base = fx.start(ServerOptions.builder().tokens(TokenFile.open(tokens))).uri();
    Path cache = Files.createDirectories(tmp.resolve("tjs-cache"));
    Run r = node(Map.of("FERRY_TOKEN", "hf_" + token), base.toString(), "org/embed", "prod", cache.toString());
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode got = HfJsClientTest.JSON.readTree(r.output().strip().lines().reduce((a, b) -> b).orElse("{}"));
    assertThat(got.get("modelType").asText()).isEqualTo("bert");
    assertThat(got.get("dims").toString()).isEqualTo("[1,4," + HIDDEN + "]");
    long[] ids = {1, 2, 3, 4};
    long[] mask = {1, 1, 1, 0};
    JsonNode data = got.get("data");
    assertThat(data).hasSize(4 * HIDDEN);
    for (int s = 0; s < 4; s++) {
      for (int h = 0; h < HIDDEN; h++) {
        float want = table[(int) ids[s] * HIDDEN + h] * mask[s];
        assertThat((float) data.get(s * HIDDEN + h).asDouble()).as("last_hidden_state[0, %d, %d]", s, h)
            .isEqualTo(want);
      }
    }
    assertThat(fx.accessLog.await(l -> l.contains(" tjs GET /org/embed/resolve/prod/onnx/model.onnx 200 "), 1))
        .isNotEmpty();

    Run denied = node(Map.of(), base.toString(), "org/embed", "prod",
        Files.createDirectories(tmp.resolve("tjs-cache-2")).toString());
    assertThat(denied.code()).as("without a token: %s", denied.output()).isNotZero();
  }

  private static Run node(Map<String, String> env, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("node", "run-model.mjs"));
    cmd.addAll(List.of(args));
    return NodePackages.run(work, 120, env, cmd.toArray(String[]::new));
  }
}
