package io.ferry.format.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsFiles;
import io.ferry.format.safetensors.SafetensorsHeader;
import io.ferry.format.safetensors.SafetensorsReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HfIndexTest {
  private static final String INDEX = "model.safetensors.index.json";
  private static final String S1 = "model-00001-of-00002.safetensors";
  private static final String S2 = "model-00002-of-00002.safetensors";

  @TempDir Path dir;

  private Path index(String json) throws IOException {
    return Files.writeString(dir.resolve(INDEX), json, StandardCharsets.UTF_8);
  }

  private HfIndex twoShardIndex() throws IOException {
    return HfIndex.read(index("{\"metadata\":{\"total_size\":12},\"weight_map\":{\"a\":\"" + S1 + "\",\"b\":\"" + S1
        + "\",\"c\":\"" + S2 + "\"}}"));
  }

  private static SafetensorsHeader shard(String name, String... tensors) {
    List<TensorInfo> infos = new java.util.ArrayList<>();
    long off = 0;
    for (String t : tensors) {
      infos.add(new TensorInfo(t, DType.F32, List.of(1L), off, off + 4));
      off += 4;
    }
    return new SafetensorsHeader(name, 2, Map.of(), infos, 10 + off);
  }

  private AbstractThrowableAssert<?, ?> rejectsCheck(HfIndex idx, Map<String, SafetensorsHeader> shards,
      List<String> present, String... fragments) {
    return assertThatThrownBy(() -> idx.check(shards, present))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith(INDEX + ": ")
        .hasMessageContainingAll(fragments);
  }

  private AbstractThrowableAssert<?, ?> rejectsRead(String json, String... fragments) throws IOException {
    Path p = index(json);
    return assertThatThrownBy(() -> HfIndex.read(p))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith(INDEX + ": ")
        .hasMessageContainingAll(fragments);
  }

  // ---- reading ----

  @Test
  void readsMetadataWeightMapAndShards() throws IOException {
    HfIndex idx = twoShardIndex();
    assertThat(idx.fileName()).isEqualTo(INDEX);
    assertThat(idx.metadata()).containsEntry("total_size", 12L);
    assertThat(idx.weightMap()).containsExactly(Map.entry("a", S1), Map.entry("b", S1), Map.entry("c", S2));
    assertThat(idx.shards()).containsExactly(S1, S2);
    assertThatThrownBy(() -> idx.weightMap().put("d", S1)).isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> idx.shards().add("x")).isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void metadataIsOptionalAndKeepsJsonValues() throws IOException {
    assertThat(HfIndex.read(index("{\"weight_map\":{}}")).metadata()).isEmpty();
    assertThat(HfIndex.read(index("{\"metadata\":null,\"weight_map\":{}}")).metadata()).isEmpty();
    HfIndex idx = HfIndex.read(index("{\"metadata\":{\"s\":\"x\",\"f\":1.5,\"b\":true,\"n\":null,\"l\":[1,\"y\"],"
        + "\"o\":{\"k\":2}},\"weight_map\":{}}"));
    assertThat(idx.metadata()).containsEntry("s", "x").containsEntry("f", 1.5).containsEntry("b", true)
        .containsEntry("n", null).containsEntry("l", List.of(1L, "y")).containsEntry("o", Map.of("k", 2L));
  }

  @Test
  void nestedShardPathsAreAllowed() throws IOException {
    assertThat(HfIndex.read(index("{\"weight_map\":{\"a\":\"sub/dir/x.safetensors\"}}")).shards())
        .containsExactly("sub/dir/x.safetensors");
  }

  @Test
  void malformedJson() throws IOException {
    rejectsRead("{\"weight_map\":{\"a\":", "not valid JSON");
    rejectsRead("{\"weight_map\":{}} {}", "not valid JSON");
    rejectsRead("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}", "not valid JSON", "Duplicate field 'a'");
  }

  @Test
  void notUtf8() throws IOException {
    Files.write(dir.resolve(INDEX), new byte[] {'{', (byte) 0xFF, '}'});
    assertThatThrownBy(() -> HfIndex.read(dir.resolve(INDEX))).isInstanceOf(InvalidInputException.class)
        .hasMessage(INDEX + ": index is not valid UTF-8");
  }

  @Test
  void notAnObject() throws IOException {
    rejectsRead("[]", "not a JSON object");
    rejectsRead("", "not a JSON object");
  }

  @Test
  void missingOrInvalidWeightMap() throws IOException {
    rejectsRead("{\"metadata\":{}}", "no 'weight_map'");
    rejectsRead("{\"weight_map\":[]}", "'weight_map' is not an object");
    rejectsRead("{\"weight_map\":{\"a\":1}}", "entry for tensor 'a' is not a string");
    rejectsRead("{\"weight_map\":{\"a\":null}}", "entry for tensor 'a' is not a string");
    rejectsRead("{\"metadata\":7,\"weight_map\":{}}", "'metadata' is not an object");
  }

  @ParameterizedTest
  @ValueSource(strings = {"../x.safetensors", "a/../../x.safetensors", "..", "sub/.."})
  void dotDotPath(String shard) throws IOException {
    rejectsRead("{\"weight_map\":{\"w\":\"" + shard + "\"}}", "tensor 'w'", "contains '..'");
  }

  @Test
  void unsafePaths() throws IOException {
    rejectsRead("{\"weight_map\":{\"w\":\"/etc/x.safetensors\"}}", "'/etc/x.safetensors'", "absolute");
    rejectsRead("{\"weight_map\":{\"w\":\"C:/x.safetensors\"}}", "drive letter");
    rejectsRead("{\"weight_map\":{\"w\":\"sub\\\\x.safetensors\"}}", "backslash");
    rejectsRead("{\"weight_map\":{\"w\":\"x\\u0000.safetensors\"}}", "NUL", "x\\0.safetensors");
    rejectsRead("{\"weight_map\":{\"w\":\"\"}}", "is empty");
    rejectsRead("{\"weight_map\":{\"w\":\"./x.safetensors\"}}", "not a normalized");
    rejectsRead("{\"weight_map\":{\"w\":\"a//x.safetensors\"}}", "not a normalized");
  }

  @Test
  void constructorChecksShardNamesToo() {
    assertThatThrownBy(() -> new HfIndex(INDEX, Map.of(), Map.of("w", "../x")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("contains '..'");
  }

  @Test
  void readsAndChecksRealShards() throws IOException {
    SafetensorsFiles.write(dir.resolve(S1), "{" + SafetensorsFiles.tensor("a", "F32", "[1]", 0, 4) + ","
        + SafetensorsFiles.tensor("b", "F32", "[1]", 4, 8) + "}", 8);
    SafetensorsFiles.write(dir.resolve(S2), "{" + SafetensorsFiles.tensor("c", "F32", "[1]", 0, 4) + "}", 4);
    HfIndex idx = twoShardIndex();
    Map<String, SafetensorsHeader> shards = new HashMap<>();
    for (String s : idx.shards()) {
      shards.put(s, SafetensorsReader.read(dir.resolve(s)));
    }
    idx.check(shards, List.of(S1, S2));
  }

  // ---- checking against shards ----

  @Test
  void consistent() throws IOException {
    twoShardIndex().check(Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c")), List.of(S2, S1));
  }

  @Test
  void missingShard() throws IOException {
    rejectsCheck(twoShardIndex(), Map.of(S1, shard(S1, "a", "b")), List.of(S1),
        "shard '" + S2 + "' is listed in weight_map but missing");
    Map<String, SafetensorsHeader> withNull = new HashMap<>();
    withNull.put(S1, shard(S1, "a", "b"));
    withNull.put(S2, null);
    rejectsCheck(twoShardIndex(), withNull, List.of(S1), "shard '" + S2 + "' is listed in weight_map but missing");
  }

  @Test
  void extraShardInTheDirectory() throws IOException {
    rejectsCheck(twoShardIndex(), Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c")),
        List.of(S1, S2, "x.safetensors"),
        "model.safetensors.index.json: shard 'x.safetensors' is in the directory but not in weight_map");
  }

  @Test
  void aCheckpointOfItsOwnInTheDirectoryIsNotAShard() throws IOException {
    HfIndex idx = twoShardIndex();
    Map<String, SafetensorsHeader> shards = Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c"),
        "consolidated.safetensors", shard("consolidated.safetensors", "layers.0.wq", "layers.0.wk"));
    idx.check(shards, List.of(S1, S2, "consolidated.safetensors"));

    rejectsCheck(idx, Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c"), "consolidated.safetensors",
        shard("consolidated.safetensors", "c")), List.of(S1, S2, "consolidated.safetensors"),
        "shard 'consolidated.safetensors' is in the directory but not in weight_map",
        "tensor 'c' is in more than one shard");
    String third = "model-00003-of-00003.safetensors";
    rejectsCheck(idx, Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "c"), third, shard(third, "z")),
        List.of(S1, S2, third), "shard '" + third + "' is in the directory but not in weight_map",
        "tensor 'z' of shard '" + third + "' is not in weight_map");
  }

  @Test
  void tensorMissingFromItsShard() throws IOException {
    rejectsCheck(twoShardIndex(), Map.of(S1, shard(S1, "a"), S2, shard(S2, "c")), List.of(S1, S2),
        "tensor 'b' is listed in weight_map for shard '" + S1 + "' but is not in it");
  }

  @Test
  void tensorInTheWrongShard() throws IOException {
    rejectsCheck(twoShardIndex(), Map.of(S1, shard(S1, "a"), S2, shard(S2, "b", "c")), List.of(S1, S2),
        "tensor 'b' is listed in weight_map for shard '" + S1 + "' but is not in it (it is in '" + S2 + "')");
  }

  @Test
  void tensorInTwoShards() throws IOException {
    rejectsCheck(twoShardIndex(), Map.of(S1, shard(S1, "a", "b"), S2, shard(S2, "b", "c")), List.of(S1, S2),
        "tensor 'b' is in more than one shard: '" + S1 + "', '" + S2 + "'");
  }

  @Test
  void tensorInAShardButNotInTheWeightMap() throws IOException {
    rejectsCheck(twoShardIndex(), Map.of(S1, shard(S1, "a", "b", "extra"), S2, shard(S2, "c")), List.of(S1, S2),
        "tensor 'extra' of shard '" + S1 + "' is not in weight_map");
  }

  @Test
  void manyProblemsAreCountedAfterTen() throws IOException {
    Map<String, String> wm = new LinkedHashMap<>();
    for (int i = 0; i < 15; i++) {
      wm.put("t" + i, "s" + i + ".safetensors");
    }
    HfIndex idx = new HfIndex(INDEX, Map.of(), wm);
    rejectsCheck(idx, Map.of(), List.of(), "is listed in weight_map but missing", "and 5 more problems");
  }
}
