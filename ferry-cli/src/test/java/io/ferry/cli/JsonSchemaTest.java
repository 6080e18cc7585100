package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins the {@code --json} schema of docs/json.md: every command's field names and JSON types, one name style
 * (camelCase), refs as users write them, the same version and file objects wherever they appear, and errors as one
 * object on stderr.
 */
class JsonSchemaTest {
  @TempDir Path tmp;
  private Cli cli;
  private String v1;
  private String v2;

  /** A field's JSON type, as the schema in docs/json.md names it; a trailing {@code ?} allows null. */
  private static final Map<String, String> VERSION = schema(
      "version", "id", "model", "string", "time", "string", "author", "string", "message", "string", "seq", "integer",
      "snapshot", "id", "parents", "array", "logicalBytes", "integer", "newStoredBytes", "integer",
      "newChunkCount", "integer", "fileCount", "integer", "tensorCount", "integer", "metadata", "object",
      "derivation", "object?", "refs", "array");
  private static final Map<String, String> FILE = schema("path", "string", "size", "integer", "sha256", "string",
      "format", "string", "chunkCount", "integer", "tensorCount", "integer", "metadata", "object", "tensors", "array");
  private static final Map<String, String> TENSOR = schema("name", "string", "dtype", "string", "bytes", "integer",
      "shape", "array");
  private static final Map<String, String> ERROR = schema("code", "integer", "kind", "string", "message", "string",
      "ref", "string?", "object", "id?");
  private static final Pattern CAMEL = Pattern.compile("[a-z][a-zA-Z0-9]*");

  @BeforeEach
  void store() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    v1 = cli.push(model("a", 1), "tiny", "-m", "base");
    cli.run("tag", "tiny", "prod").ok();
    v2 = cli.push(model("b", 2), "tiny:candidate", "-m", "two");
  }

  private Path model(String name, long seed) throws IOException {
    Path dir = tmp.resolve(name);
    ModelGenerator.writeHfModel(dir, List.of(t("embed", DType.BF16, seed, 64, 128), t("head", DType.F32, seed + 1,
        32, 64)), 256 << 10);
    Files.writeString(dir.resolve("config.json"), "{\"seed\": " + seed + "}");
    return dir;
  }

  @Test
  void versionAndFileObjectsAreTheSameInEveryCommand() throws IOException {
    JsonNode log = cli.run("log", "tiny", "--json").ok().json();
    assertThat(log).hasSize(2);
    log.forEach(v -> conforms("log[]", v, VERSION));
    JsonNode logV2 = log.get(0);
    assertThat(logV2.get("version").asText()).isEqualTo(v2);
    assertThat(texts(logV2.get("refs"))).containsExactly("tiny", "tiny:candidate");
    assertThat(texts(log.get(1).get("refs"))).containsExactly("tiny:prod");

    JsonNode show = cli.run("show", "tiny:candidate", "--json").ok().json();
    conforms("show", show, with(VERSION, "files", "array"));
    assertThat(without(show, "files")).as("show's version object is log's").isEqualTo(logV2);
    assertThat(show.get("files")).hasSize(show.get("fileCount").asInt());
    for (JsonNode f : show.get("files")) {
      conforms("show.files[]", f, FILE);
      f.get("tensors").forEach(t -> conforms("tensor", t, TENSOR));
      f.get("tensors").forEach(t -> t.get("shape").forEach(d -> assertThat(d.isIntegralNumber()).isTrue()));
    }

    JsonNode lineage = cli.run("lineage", "tiny", "--json").ok().json();
    conforms("lineage", lineage, with(with(with(VERSION, "relation", "string"), "inStore", "boolean"),
        "parents", "array", "children", "array"));
    assertThat(lineage.get("parents").get(0).get("version").asText()).isEqualTo(v1);
    conforms("lineage.parents[]", lineage.get("parents").get(0), with(with(VERSION, "relation", "string"), "inStore",
        "boolean"));

    JsonNode pull = cli.run("pull", "tiny:prod", tmp.resolve("out").toString(), "--json").ok().json();
    conforms("pull", pull, with(VERSION, "ref", "string", "dir", "string", "verified", "boolean", "as", "string?"));
    assertThat(pull.get("ref").asText()).isEqualTo("tiny:prod");
    assertThat(without(pull, "ref", "dir", "verified", "as")).isEqualTo(log.get(1));
  }

  @Test
  void pushPrintsTheVersionAsLogDoesAndWhatThisRunAdded() throws IOException {
    JsonNode pushed = cli.run("push", model("c", 3).toString(), "tiny:next", "--json").ok().json();
    Map<String, String> pushSchema = with(VERSION, "ref", "string", "upToDate", "boolean", "pushedBytes", "integer",
        "pushedChunkCount", "integer");
    conforms("push", pushed, pushSchema);
    JsonNode log = cli.run("log", "tiny", "-n", "1", "--json").ok().json().get(0);
    assertThat(without(pushed, "ref", "upToDate", "pushedBytes", "pushedChunkCount")).isEqualTo(log);
    assertThat(pushed.get("pushedBytes")).isEqualTo(log.get("newStoredBytes"));
    assertThat(pushed.get("ref").asText()).isEqualTo("tiny:next");

    JsonNode again = cli.run("push", model("c", 3).toString(), "tiny", "--json").ok().json();
    conforms("push (up to date)", again, pushSchema);
    assertThat(again.get("upToDate").asBoolean()).isTrue();
    assertThat(again.get("pushedBytes").asLong()).isZero();
    assertThat(again.get("newStoredBytes")).as("the version's own figure").isEqualTo(log.get("newStoredBytes"));
  }

  @Test
  void otherCommandsUseOneNameStyleAndRefsAsUsersWriteThem() throws IOException {
    JsonNode ls = cli.run("ls", "--json").ok().json();
    conforms("ls[]", ls.get(0), schema("model", "string", "head", "id", "logicalBytes", "integer", "versionCount",
        "integer", "tags", "object"));
    assertThat(ls.get(0).get("tags").get("prod").asText()).isEqualTo(v1);
    conforms("stats", cli.run("stats", "--json").ok().json(), schema("modelCount", "integer", "versionCount",
        "integer", "logicalBytes", "integer", "uniqueBytes", "integer", "storedBytes", "integer", "dedupRatio",
        "number", "compressionRatio", "number", "chunkCount", "integer", "packCount", "integer", "objectCount",
        "integer"));
    conforms("verify", cli.run("verify", "--json").ok().json(), schema("ok", "boolean", "versionCount", "integer",
        "chunkCount", "integer", "checkedBytes", "integer", "errors", "array", "damagedVersions", "array",
        "indexProblems", "array", "repair", "string?"));
    conforms("gc", cli.run("gc", "--dry-run", "--json").ok().json(), schema("dryRun", "boolean", "liveObjectCount",
        "integer", "deadObjectCount", "integer", "deadBytes", "integer", "keptYoungCount", "integer",
        "keptForPushesCount", "integer", "leftoversRemovedCount", "integer"));
    conforms("index backfill", cli.run("index", "backfill", "--json").ok().json(), schema("packCount", "integer",
        "alreadyIndexedPackCount", "integer", "readPackCount", "integer", "unreadablePackCount", "integer",
        "addedChunkCount", "integer", "writtenDeltaCount", "integer", "repairedCount", "integer"));
    JsonNode diff = cli.run("diff", "tiny:prod", "tiny:candidate", "--json").ok().json();
    conforms("diff", diff, schema("a", "id", "b", "id", "unchangedTensorCount", "integer", "tensors", "array",
        "files", "array", "movedTensors", "array", "metadata", "array"));
    diff.get("tensors").forEach(t -> assertThat(t.get("change").asText()).matches(CAMEL));
    JsonNode tag = cli.run("tag", "tiny", "stable", "--json").ok().json();
    conforms("tag", tag, schema("ref", "string", "old", "id?", "new", "id?", "result", "string"));
    assertThat(tag.get("ref").asText()).isEqualTo("tiny:stable");
    assertThat(tag.get("result").asText()).matches(CAMEL);
    JsonNode reflog = cli.run("reflog", "tiny:prod", "--json").ok().json();
    conforms("reflog[]", reflog.get(0), schema("ref", "string", "time", "string", "who", "string", "old", "id?",
        "new", "id?", "why", "string"));
    assertThat(reflog.get(0).get("ref").asText()).isEqualTo("tiny:prod");
    Cli other = new Cli(tmp.resolve("other")).init();
    JsonNode copy = cli.run("copy", "tiny:prod", "--to", other.store.toString(), "--json").ok().json();
    conforms("copy", copy, schema("version", "id", "sentVersionCount", "integer", "sentObjectCount", "integer",
        "sentBytes", "integer", "movedRefs", "array", "previousValues", "object"));
    assertThat(texts(copy.get("movedRefs"))).containsExactlyInAnyOrder("tiny", "tiny:prod");
  }

  @Test
  void rollbackAndTokenCommandsPrintOneDocumentOfThePinnedFields() throws IOException {
    cli.run("tag", "tiny:candidate", "prod").ok();
    JsonNode rollback = cli.run("rollback", "tiny:prod", "--json").ok().json();
    conforms("rollback", rollback, schema("ref", "string", "old", "id?", "new", "id?", "result", "string"));
    assertThat(rollback.get("new").asText()).isEqualTo(v1);
    assertThat(rollback.get("result").asText()).matches(CAMEL);

    String tokens = tmp.resolve("tokens.json").toString();
    Map<String, String> entry = schema("id", "string", "name", "string", "scopes", "array", "created", "string");
    JsonNode created = Cli.raw("token", "create", "--tokens", tokens, "--scope", "read:*", "--scope", "write:org/*",
        "--name", "ci", "--json").ok().json();
    conforms("token create", created, schema("id", "string", "name", "string", "scopes", "array", "token", "string"));
    assertThat(texts(created.get("scopes"))).containsExactly("read:*", "write:org/*");
    Cli.raw("token", "create", "--tokens", tokens, "--scope", "admin", "--name", "ops", "--json").ok();
    JsonNode list = Cli.raw("token", "list", "--tokens", tokens, "--json").ok().json();
    assertThat(list.isArray()).as("token list --json: %s", list).isTrue();
    assertThat(list).hasSize(2);
    list.forEach(e -> conforms("token list[]", e, entry));
    JsonNode revoked = Cli.raw("token", "revoke", "--tokens", tokens, "ops", "--json").ok().json();
    conforms("token revoke", revoked, schema("id", "string", "name", "string"));
    assertThat(revoked.get("name").asText()).isEqualTo("ops");
  }

  @Test
  void deriveNamesItsMetricsInCamelCaseAndItsNumbersAsNumbers() throws IOException {
    JsonNode d = cli.run("derive", "quantize", "tiny:prod", "--bits", "4", "--group-size", "32", "--as", "tiny-q4",
        "--json").ok().json();
    conforms("derive", d, with(VERSION, "ref", "string", "upToDate", "boolean", "pushedBytes", "integer",
        "pushedChunkCount", "integer", "sourceVersion", "id", "sourceTensorBytes", "integer", "overall", "object",
        "tensors", "array", "keptFiles", "object"));
    JsonNode params = d.get("derivation").get("parameters");
    assertThat(params.get("bits").isIntegralNumber()).as("bits: %s", params).isTrue();
    assertThat(params.get("bits").asInt()).isEqualTo(4);
    assertThat(d.get("overall").has("rmse")).isTrue();
    assertThat(d.get("overall").toString()).doesNotContain("_");
    assertThat(d.get("derivation").get("metrics").toString()).doesNotContain("_");
    for (JsonNode t : d.get("tensors")) {
      conforms("derive.tensors[]", t, schema("name", "string", "action", "string", "reason", "string?", "metrics",
          "object?"));
    }
    JsonNode log = cli.run("log", "tiny-q4", "--json").ok().json().get(0);
    assertThat(without(d, "ref", "upToDate", "pushedBytes", "pushedChunkCount", "sourceVersion", "sourceTensorBytes",
        "overall", "tensors", "keptFiles")).as("derive's version object is log's").isEqualTo(log);
    JsonNode lineage = cli.run("lineage", "tiny-q4", "--json").ok().json();
    assertThat(lineage.get("derivation")).isEqualTo(log.get("derivation"));
  }

  @Test
  void initRefMovesAndRemovalsPrintTheirPinnedFields() throws IOException {
    conforms("init", cli.run("init", "--json").ok().json(), schema("store", "string"));
    Map<String, String> tagSchema = schema("ref", "string", "old", "id?", "new", "id?", "result", "string");
    JsonNode deleted = cli.run("tag", "-d", "tiny:candidate", "--json").ok().json();
    conforms("tag -d", deleted, tagSchema);
    assertThat(deleted.get("ref").asText()).isEqualTo("tiny:candidate");
    assertThat(deleted.get("new").isNull()).as("tag -d: new is null: %s", deleted).isTrue();

    JsonNode rmVersion = cli.run("rm", "tiny@" + v2.substring(0, 12), "--json").ok().json();
    conforms("rm MODEL@ID", rmVersion, schema("ref", "string", "moved", "array"));
    conforms("rm MODEL@ID.moved[]", rmVersion.get("moved").get(0), schema("ref", "string", "old", "id", "new",
        "id?"));
    assertThat(rmVersion.get("moved").get(0).get("new").asText()).isEqualTo(v1);

    JsonNode mv = cli.run("mv", "tiny", "small", "--json").ok().json();
    conforms("mv", mv, schema("from", "string", "to", "string", "moved", "array"));
    mv.get("moved").forEach(m -> conforms("mv.moved[]", m, schema("ref", "string", "version", "id")));
    List<String> movedRefs = new ArrayList<>();
    mv.get("moved").forEach(m -> movedRefs.add(m.get("ref").asText()));
    assertThat(movedRefs).containsExactlyInAnyOrder("small", "small:prod");

    JsonNode rm = cli.run("rm", "small", "--force", "--json").ok().json();
    conforms("rm MODEL", rm, schema("model", "string", "removed", "object"));
    assertThat(rm.get("removed").get("small:prod").asText()).as("removed is keyed by ref: %s", rm).isEqualTo(v1);
  }

  @Test
  void diffEntriesPullAsAndLineageRelationsFollowThePage() throws IOException {
    Path renamed = model("r", 1);
    Files.move(renamed.resolve("config.json"), renamed.resolve("settings.json"));
    cli.push(renamed, "tiny:renamed");
    JsonNode diff = cli.run("diff", "tiny:prod", "tiny:renamed", "--json").ok().json();
    Map<String, String> fileChange = schema("path", "string", "change", "string", "sizeA", "integer", "sizeB",
        "integer", "renamedFrom", "string?");
    diff.get("files").forEach(f -> conforms("diff.files[]", f, fileChange));
    assertThat(diff.get("files").toString()).contains("\"renamedFrom\":\"config.json\"");
    JsonNode changed = cli.run("diff", "tiny:prod", "tiny:candidate", "--json").ok().json();
    Map<String, String> tensorChange = schema("name", "string", "file", "string?", "change", "string", "dtypeA",
        "string?", "shapeA", "array?", "bytesA", "integer?", "dtypeB", "string?", "shapeB", "array?", "bytesB",
        "integer?", "renamedFrom", "string?", "sameBytes", "boolean?");
    assertThat(changed.get("tensors")).isNotEmpty();
    changed.get("tensors").forEach(t -> conforms("diff.tensors[]", t, tensorChange));

    JsonNode pulled = cli.run("pull", "tiny:prod", tmp.resolve("pt").toString(), "--as", "torch", "--json").ok()
        .json();
    conforms("pull --as", pulled, with(VERSION, "ref", "string", "dir", "string", "verified", "boolean", "as",
        "string", "convertedTensorCount", "integer", "writtenBytes", "integer"));
    assertThat(pulled.get("as").asText()).isEqualTo("torch");

    cli.run("derive", "cast", "tiny:prod", "--to", "bf16", "--as", "tiny-bf16", "--json").ok();
    JsonNode derived = cli.run("lineage", "tiny-bf16", "--json").ok().json();
    JsonNode source = cli.run("lineage", "tiny:prod", "--json").ok().json();
    List<String> relations = new ArrayList<>();
    for (JsonNode l : List.of(derived, source)) {
      relations.add(l.get("relation").asText());
      l.get("parents").forEach(p -> relations.add(p.get("relation").asText()));
      l.get("children").forEach(c -> relations.add(c.get("relation").asText()));
    }
    assertThat(relations).as("lineage relations are enum values, camelCase").contains("derivedFrom", "derived")
        .allMatch(r -> CAMEL.matcher(r).matches());
  }

  @Test
  void checkpointCommandsPrintTheVersionObjectAndTheirSteps() throws IOException {
    JsonNode pushed = cli.run("checkpoint", "push", model("s", 5).toString(), "run", "--step", "10", "--json").ok()
        .json();
    conforms("checkpoint push", pushed, with(VERSION, "ref", "string", "upToDate", "boolean", "pushedBytes",
        "integer", "pushedChunkCount", "integer", "run", "string", "step", "integer", "dropped", "array"));
    cli.run("checkpoint", "push", model("s2", 6).toString(), "run", "--step", "20", "--keep-last", "1").ok();
    JsonNode ls = cli.run("checkpoint", "ls", "run", "--json").ok().json();
    assertThat(ls).hasSize(1);
    conforms("checkpoint ls[]", ls.get(0), with(VERSION, "step", "integer"));
    Map<String, String> stepVersion = schema("step", "integer", "version", "id");
    JsonNode latest = cli.run("checkpoint", "latest", "run", "--json").ok().json();
    conforms("checkpoint latest", latest, stepVersion);
    assertThat(latest.get("step").asLong()).isEqualTo(20);
    conforms("checkpoint pull", cli.run("checkpoint", "pull", "run", tmp.resolve("resume").toString(), "--json").ok()
        .json(), stepVersion);
  }

  @Test
  void verifyDeleteDamagedAddsWhatItDeletedKeptAndHowToRestore() throws IOException {
    Path biggest = cli.objects().stream().max(java.util.Comparator.comparingLong(p -> p.toFile().length()))
        .orElseThrow();
    byte[] bytes = Files.readAllBytes(biggest);
    bytes[bytes.length / 2] ^= 0x40;
    biggest.toFile().setWritable(true);
    Files.write(biggest, bytes);
    JsonNode v = cli.run("verify", "--delete-damaged", "--json").exits(3).json();
    conforms("verify --delete-damaged", v, schema("ok", "boolean", "versionCount", "integer", "chunkCount",
        "integer", "checkedBytes", "integer", "errors", "array", "damagedVersions", "array", "indexProblems", "array",
        "repair", "string?", "deleted", "array", "kept", "array", "restore", "array"));
    assertThat(v.get("deleted").size() + v.get("kept").size()).as("deleted and kept: %s", v).isEqualTo(1);
    Map<String, String> damaged = schema("id", "id", "kind", "string", "defect", "string", "uses", "array");
    v.get("deleted").forEach(d -> conforms("verify --delete-damaged.deleted[]", d, damaged));
    v.get("kept").forEach(k -> conforms("verify --delete-damaged.kept[]", k, with(damaged, "reason", "string")));
    for (JsonNode d : v.findParents("defect")) {
      assertThat(d.get("kind").asText()).isIn("chunk", "snapshot", "version", "pack");
    }
  }

  @Test
  void errorsAreOneObjectOnStderr() throws IOException {
    Cli.Result missing = cli.run("show", "tiny:nope", "--json").exits(1);
    assertThat(missing.out()).isEmpty();
    JsonNode e = Cli.JSON.readTree(missing.err());
    conforms("error", e, ERROR);
    assertThat(missing.err().strip()).doesNotContain("\n");
    assertThat(e.get("code").asInt()).isEqualTo(1);
    assertThat(e.get("kind").asText()).isEqualTo("notFound");
    assertThat(e.get("ref").asText()).isEqualTo("tiny:nope");
    assertThat(e.get("message").asText()).contains("nope");
    // every command given a ref or a model names it
    String[][] named = {{"rm", "nope"}, {"rm", "nope@abcd1234"}, {"rollback", "nope:prod"}, {"mv", "nope", "other"},
        {"checkpoint", "latest", "nope"}, {"log", "nope"}, {"tag", "-d", "nope:t"}};
    for (String[] args : named) {
      List<String> line = new java.util.ArrayList<>(List.of(args));
      line.add("--json");
      JsonNode err = Cli.JSON.readTree(cli.run(line.toArray(String[]::new)).exits(1).err());
      assertThat(err.path("ref").asText()).as(String.join(" ", args)).isEqualTo(args[args[0].equals("checkpoint")
          || args[0].equals("tag") ? 2 : 1]);
    }

    // derive's source and push's target are the ref the command was given
    JsonNode derive = Cli.JSON.readTree(cli.run("derive", "cast", "nope", "--to", "bf16", "--as", "x", "--json")
        .exits(1).err());
    assertThat(derive.path("ref").asText()).as("derive: %s", derive).isEqualTo("nope");
    JsonNode push = Cli.JSON.readTree(cli.run("push", model("c", 3).toString(), "Tiny", "--json").exits(1).err());
    assertThat(push.path("ref").asText()).as("push: %s", push).isEqualTo("Tiny");

    Cli.Result usage = cli.run("log", "tiny", "-n", "-1", "--json").exits(2);
    JsonNode u = Cli.JSON.readTree(usage.err());
    conforms("usage error", u, ERROR);
    assertThat(u.get("kind").asText()).isEqualTo("usage");

    Cli.Result cat = cli.run("cat", "tiny//config.json", "--json").exits(2);
    JsonNode c = Cli.JSON.readTree(cat.err());
    assertThat(c.get("message").asText()).contains("ferry show");
    assertThat(cli.run("cat", "tiny//config.json").ok().err()).as("cat without --json still works").isEmpty();
  }

  // ------------------------------------------------------------------ the schema check

  private static Map<String, String> schema(String... nameType) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < nameType.length; i += 2) {
      m.put(nameType[i], nameType[i + 1]);
    }
    return m;
  }

  private static Map<String, String> with(Map<String, String> base, String... nameType) {
    Map<String, String> m = new LinkedHashMap<>(base);
    m.putAll(schema(nameType));
    return m;
  }

  private static JsonNode without(JsonNode n, String... names) {
    com.fasterxml.jackson.databind.node.ObjectNode copy = n.deepCopy();
    copy.remove(List.of(names));
    return copy;
  }

  /**
   * {@code n} has exactly the fields of the schema (optional ones, of type {@code T?}, may be absent or null), each
   * of its type, and every name in it (nested objects too, but not metadata, whose keys are the user's) is camelCase.
   */
  private static void conforms(String what, JsonNode n, Map<String, String> schema) {
    assertThat(n.isObject()).as("%s is an object: %s", what, n).isTrue();
    List<String> names = new ArrayList<>();
    n.fieldNames().forEachRemaining(names::add);
    List<String> required = schema.entrySet().stream().filter(e -> !e.getValue().endsWith("?")).map(Map.Entry::getKey)
        .toList();
    assertThat(names).as("fields of %s: %s", what, n).containsAll(required).allMatch(schema::containsKey);
    for (Map.Entry<String, String> f : schema.entrySet()) {
      JsonNode v = n.get(f.getKey());
      String type = f.getValue();
      if (type.endsWith("?") && (v == null || v.isNull())) {
        continue;
      }
      assertThat(v).as("%s.%s", what, f.getKey()).isNotNull();
      String t = type.replace("?", "");
      boolean ok = switch (t) {
        case "string" -> v.isTextual();
        case "id" -> v.isTextual() && v.asText().matches("[0-9a-f]{64}");
        case "integer" -> v.isIntegralNumber();
        case "number" -> v.isNumber();
        case "boolean" -> v.isBoolean();
        case "array" -> v.isArray();
        case "object" -> v.isObject();
        default -> throw new IllegalArgumentException(t);
      };
      assertThat(ok).as("%s.%s is a%s %s: %s", what, f.getKey(), t.startsWith("i") || t.startsWith("o")
          || t.startsWith("a") ? "n" : "", t, v).isTrue();
    }
    camelCase(what, n);
  }

  private static void camelCase(String what, JsonNode n) {
    if (n.isArray()) {
      n.forEach(e -> camelCase(what + "[]", e));
    } else if (n.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        assertThat(f.getKey()).as("a name in %s", what).matches(CAMEL);
        // keys the user chose: metadata, tags by name, refs (rm's removed, copy's previousValues)
        if (!List.of("metadata", "tags", "removed", "previousValues").contains(f.getKey())) {
          camelCase(what + "." + f.getKey(), f.getValue());
        }
      }
    }
  }

  private static List<String> texts(JsonNode arr) {
    List<String> out = new ArrayList<>();
    arr.forEach(n -> out.add(n.asText()));
    return out;
  }
}
