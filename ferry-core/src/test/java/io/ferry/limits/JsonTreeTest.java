package io.ferry.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

class JsonTreeTest {
  private static final ObjectMapper MAPPER = Limits.jsonMapper();

  /** A parse error reads as the parser's words and a place, not Jackson's note about the source it hides. */
  @Test
  void problemsNameTheDefectAndWhere() {
    IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
        () -> JsonTree.read("{\"format\": \"ferry-store\",\n  \"version\": }".getBytes(StandardCharsets.UTF_8)));
    assertThat(JsonTree.problem(e)).contains("Unexpected character ('}'").contains("at line 2, column")
        .doesNotContain("Source").doesNotContain("REDACTED").doesNotContain("\n");
    IOException trailing = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
        () -> JsonTree.read("{} x".getBytes(StandardCharsets.UTF_8)));
    assertThat(JsonTree.problem(trailing)).doesNotContain("REDACTED").contains("at line 1, column");
    assertThat(JsonTree.problem(new IOException("disk gone"))).isEqualTo("disk gone");
  }

  @Test
  void readsTheSameTreeAsTheMapper() throws IOException {
    String doc = "{\"format\":\"ferry-version/1\",\"n\":[1,-2147483649,12345678901234567890123,1.5,-0.0,1e308],"
        + "\"t\":true,\"f\":false,\"z\":null,\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\",\"o\":{\"a\":{},\"b\":[]},"
        + "\"\":\"empty key\"}";
    JsonNode ours = JsonTree.read(doc.getBytes(StandardCharsets.UTF_8));
    assertThat(ours).isEqualTo(MAPPER.readTree(doc));
    assertThat(ours.get("n").get(0).isInt()).isTrue();
    assertThat(ours.get("n").get(1).isLong()).isTrue();
    assertThat(ours.get("n").get(2).isBigInteger()).isTrue();
    assertThat(ours.get("n").get(3).isDouble()).isTrue();
    assertThat(JsonTree.read(doc)).isEqualTo(ours);
  }

  @Test
  void randomDocumentsMatchTheMapper() throws IOException {
    Random r = new Random(7);
    for (int i = 0; i < 500; i++) {
      String doc = randomValue(r, 0);
      assertThat(JsonTree.read(doc.getBytes(StandardCharsets.UTF_8))).as(doc).isEqualTo(MAPPER.readTree(doc));
    }
  }

  @Test
  void aLaterDuplicateKeyWinsAsWithTheMapper() throws IOException {
    String doc = "{\"a\":1,\"a\":2}";
    assertThat(JsonTree.read(doc)).isEqualTo(MAPPER.readTree(doc));
    assertThat(JsonTree.read(doc).get("a").asInt()).isEqualTo(2);
  }

  @Test
  void readsASliceOfABuffer() throws IOException {
    byte[] buf = "xx{\"a\":[1]}yy".getBytes(StandardCharsets.UTF_8);
    assertThat(JsonTree.read(buf, 2, buf.length - 4).get("a").get(0).asInt()).isEqualTo(1);
  }

  @Test
  void emptyContentIsTheMissingNode() throws IOException {
    assertThat(JsonTree.read(new byte[0]).isMissingNode()).isTrue();
    assertThat(JsonTree.read("  \n").isMissingNode()).isTrue();
  }

  @Test
  void contentAfterTheDocumentIsAnError() {
    assertThatThrownBy(() -> JsonTree.read("{\"a\":1} {\"b\":2}")).isInstanceOf(JsonProcessingException.class)
        .hasMessageContaining("content after the end of the JSON document");
    assertThatThrownBy(() -> JsonTree.read("[1]]")).isInstanceOf(JsonProcessingException.class);
  }

  @Test
  void malformedAndTruncatedDocumentsAreErrors() {
    for (String bad : new String[] {"{", "{\"a\":", "[1,", "{\"a\" 1}", "[01]", "{'a':1}", "nul", "\"\\x\"", "[1,]"}) {
      assertThatThrownBy(() -> JsonTree.read(bad)).as(bad).isInstanceOf(JsonProcessingException.class);
    }
  }

  @Test
  void nestingIsBoundedByTheReadConstraints() throws IOException {
    String deep = "[".repeat(100_000) + "]".repeat(100_000);
    assertThatThrownBy(() -> JsonTree.read(deep)).isInstanceOf(StreamConstraintsException.class)
        .hasMessageContaining("200");
    String ok = "[".repeat(200) + "]".repeat(200);
    assertThat(JsonTree.read(ok).isArray()).isTrue();
  }

  private static String randomValue(Random r, int depth) {
    int kind = depth > 4 ? 2 + r.nextInt(5) : r.nextInt(7);
    switch (kind) {
      case 0: {
        StringBuilder b = new StringBuilder("{");
        int n = r.nextInt(4);
        for (int i = 0; i < n; i++) {
          b.append(i == 0 ? "" : ",").append('"').append("k").append(r.nextInt(3)).append("\":")
              .append(randomValue(r, depth + 1));
        }
        return b.append('}').toString();
      }
      case 1: {
        StringBuilder b = new StringBuilder("[");
        int n = r.nextInt(4);
        for (int i = 0; i < n; i++) {
          b.append(i == 0 ? "" : ",").append(randomValue(r, depth + 1));
        }
        return b.append(']').toString();
      }
      case 2:
        return Long.toString(r.nextLong() >> r.nextInt(64));
      case 3:
        return Double.toString((r.nextDouble() - 0.5) * Math.pow(10, r.nextInt(40) - 20));
      case 4:
        return "\"" + "s\\u00e9\\n".repeat(r.nextInt(3)) + "\"";
      case 5:
        return r.nextBoolean() ? "true" : "false";
      default:
        return "null";
    }
  }
}
