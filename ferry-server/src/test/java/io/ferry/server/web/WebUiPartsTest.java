package io.ferry.server.web;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.server.http.HttpError;
import java.time.Duration;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The browser's small parts, without a browser: which paths it owns, escaping, redirects, tar records, layers. */
class WebUiPartsTest {
  @Test
  void claimsItsPagesAndLeavesHuggingFacePathsAlone() {
    assertThat(WebUi.claims(List.of())).isTrue();
    assertThat(WebUi.claims(List.of("ui"))).isTrue();
    assertThat(WebUi.claims(List.of("ui", "models", "org", "m"))).isTrue();
    assertThat(WebUi.claims(List.of("ui", "models", "m", "-", "files", "id", "a", "b.json"))).isTrue();
    assertThat(WebUi.claims(List.of("ui", "diff"))).isTrue();
    // a model named ui, ui/x or ui/models stays reachable by the Hugging Face endpoint
    assertThat(WebUi.claims(List.of("ui", "resolve", "main", "config.json"))).isFalse();
    assertThat(WebUi.claims(List.of("ui", "x", "resolve", "main", "config.json"))).isFalse();
    assertThat(WebUi.claims(List.of("ui", "models", "resolve", "main", "config.json"))).isFalse();
    assertThat(WebUi.claims(List.of("v1", "models"))).isFalse();
    assertThat(WebUi.claims(List.of("org", "ui"))).isFalse();
  }

  @Test
  void escapesMarkupQuotesAndControlCharacters() {
    assertThat(Html.escape("<script>alert('x')</script>&\"")).isEqualTo(
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
    assertThat(Html.escape("ünï 模型")).isEqualTo("ünï 模型");
    assertThat(Html.escape("a\u0000b\u001bc\u0085")).isEqualTo("aU+0000bU+001BcU+0085");
    assertThat(Html.escape("a\u202Eb\u2066c\u200Dd")).isEqualTo("aU+202EbU+2066c\u200Dd");
  }

  @Test
  void gcGraceIsRefusedWhenNegativeInEitherSpelling() throws Exception {
    assertThat(AdminJobs.grace("90s")).isEqualTo(Duration.ofSeconds(90));
    assertThat(AdminJobs.grace("PT1H")).isEqualTo(Duration.ofHours(1));
    assertThat(AdminJobs.grace("0")).isZero();
    for (String negative : List.of("-1h", "PT-1H", "P-7D")) {
      assertThatThrownBy(() -> AdminJobs.grace(negative)).as(negative).isInstanceOf(HttpError.class)
          .hasMessageContaining("grace '" + negative + "' is not a duration")
          .satisfies(e -> assertThat(((HttpError) e).status()).isEqualTo(400));
    }
  }

  @Test
  void redirectsAfterLoginOnlyToLocalPaths() {
    assertThat(WebUi.safeNext("/ui/models/org/m?after=1")).isEqualTo("/ui/models/org/m?after=1");
    assertThat(WebUi.safeNext("//evil.example/x")).isEqualTo("/");
    assertThat(WebUi.safeNext("https://evil.example/")).isEqualTo("/");
    assertThat(WebUi.safeNext("/\\evil.example")).isEqualTo("/");
    assertThat(WebUi.safeNext("/a b")).isEqualTo("/");
    assertThat(WebUi.safeNext(null)).isEqualTo("/");
  }

  @Test
  void paxRecordsCountTheirOwnLength() {
    for (String v : List.of("a", "x".repeat(90), "x".repeat(95), "dir/ünï模型.safetensors", "y".repeat(1000))) {
      String r = TarStream.record("path", v);
      int len = Integer.parseInt(r.substring(0, r.indexOf(' ')));
      assertThat(r.getBytes(StandardCharsets.UTF_8)).hasSize(len);
      assertThat(r).endsWith("path=" + v + "\n");
    }
  }

  @Test
  void layerIsTheFirstNumberBetweenDots() {
    assertThat(TensorDelta.layerOf("model.layers.12.mlp.up_proj.weight")).isEqualTo(12);
    assertThat(TensorDelta.layerOf("blk.3.attn_q.weight")).isEqualTo(3);
    assertThat(TensorDelta.layerOf("h.0")).isEqualTo(0);
    assertThat(TensorDelta.layerOf("model.embed_tokens.weight")).isEqualTo(-1);
    assertThat(TensorDelta.layerOf("layer.2x.w")).isEqualTo(-1);
  }
}
