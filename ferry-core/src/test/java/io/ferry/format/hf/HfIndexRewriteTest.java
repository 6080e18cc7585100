package io.ferry.format.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link HfIndex#rewrite}: the index of a derived model, whose shards hold other tensors than the source's. */
class HfIndexRewriteTest {
  private static final String NAME = "model.safetensors.index.json";

  private static TensorInfo t(String name, DType dtype, long bytes) {
    return new TensorInfo(name, dtype, List.of(bytes / (dtype.bits() / 8)), 0, bytes);
  }

  private static String rewrite(String json, Map<String, List<TensorInfo>> replacements) throws Exception {
    return new String(HfIndex.rewrite(NAME, json.getBytes(StandardCharsets.UTF_8), replacements),
        StandardCharsets.UTF_8);
  }

  @Test
  void replacesEntriesWhereTheyStandAndRecountsTheTotalSize() throws Exception {
    String index = "{\"metadata\":{\"total_size\":40,\"format\":\"pt\"},\"extra\":[1,2],\"weight_map\":{"
        + "\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"b.scale\":\"s2.safetensors\",\"c\":\"s1.safetensors\"}}";
    Map<String, List<TensorInfo>> by = new LinkedHashMap<>();
    by.put("a", List.of(t("a", DType.I8, 4), t("a.scale", DType.F32, 4), t("a.zero_point", DType.U8, 1)));
    by.put("b", List.of(t("b", DType.F32, 16)));
    by.put("b.scale", List.of());
    by.put("c", List.of(t("c", DType.F32, 8)));
    String nl = System.lineSeparator();
    assertThat(rewrite(index, by)).isEqualTo("{" + nl
        + "  \"metadata\" : {" + nl
        + "    \"total_size\" : 33," + nl
        + "    \"format\" : \"pt\"" + nl
        + "  }," + nl
        + "  \"extra\" : [ 1, 2 ]," + nl
        + "  \"weight_map\" : {" + nl
        + "    \"a\" : \"s1.safetensors\"," + nl
        + "    \"a.scale\" : \"s1.safetensors\"," + nl
        + "    \"a.zero_point\" : \"s1.safetensors\"," + nl
        + "    \"b\" : \"s2.safetensors\"," + nl
        + "    \"c\" : \"s1.safetensors\"" + nl
        + "  }" + nl
        + "}\n");
  }

  @Test
  void entriesNotReplacedStayAndATotalSizeIsOnlyRewrittenWhereThereIsOne() throws Exception {
    String out = rewrite("{\"weight_map\":{\"a\":\"s.safetensors\",\"b\":\"s.safetensors\"}}",
        Map.of("a", List.of(t("a", DType.BF16, 2))));
    assertThat(out).contains("\"a\" : \"s.safetensors\"", "\"b\" : \"s.safetensors\"").doesNotContain("total_size");
  }

  @Test
  void anIndexWithoutAWeightMapObjectIsReturnedAsItIs() throws Exception {
    for (String json : new String[] {"[1, 2]", "{\"weight_map\": [\"a\"]}", "{\"metadata\": {}}"}) {
      assertThat(rewrite(json, Map.of("a", List.of()))).isEqualTo(json);
    }
  }

  @Test
  void invalidJsonIsRefusedNamingTheFile() {
    assertThatThrownBy(() -> rewrite("{\"weight_map\": {\"a\": \"s\", \"a\": \"t\"}}", Map.of()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith(NAME + ": index is not valid JSON");
    assertThatThrownBy(() -> rewrite("{\"weight_map\": {", Map.of()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith(NAME + ": index is not valid JSON");
  }
}
