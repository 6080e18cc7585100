package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.store.Backend;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.testkit.TestRandom;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Versions, history, tags, rollback, diff and ref syntax through the CLI. */
class VersioningTest {
  @RegisterExtension final TestRandom random = new TestRandom();

  @TempDir Path tmp;

  private Path model(String name, List<Tensor> tensors, String config) throws IOException {
    Path dir = tmp.resolve(name);
    ModelGenerator.writeHfModel(dir, tensors, 256 << 10);
    Files.writeString(dir.resolve("config.json"), config);
    return dir;
  }

  private List<Tensor> base() {
    return List.of(t("embed", DType.BF16, 1, 64, 128), t("layer.0.w", DType.BF16, 2, 128, 128),
        t("layer.0.norm", DType.F32, 3, 128), t("layer.1.w", DType.BF16, 4, 128, 128),
        t("layer.1.norm", DType.F32, 5, 128), t("head", DType.BF16, 6, 64, 128));
  }

  @Test
  void identicalPushIsUpToDateAndChangesNothing() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = model("m", base(), "{\"a\":1}");
    String v1 = cli.push(dir, "m", "-m", "base");
    Map<String, String> before = cli.state();
    Cli.Result r = cli.run("push", dir.toString(), "m", "-m", "again").ok();
    assertThat(r.err()).contains("up to date").contains(v1);
    assertThat(r.out().strip()).as("stdout: the version id alone, as for a new version").isEqualTo(v1);
    assertThat(cli.state()).as("store files after an up-to-date push").isEqualTo(before);
    JsonNode j = cli.run("push", dir.toString(), "m", "--json").ok().json();
    assertThat(j.get("upToDate").asBoolean()).isTrue();
    assertThat(j.get("version").asText()).isEqualTo(v1);
    assertThat(j.get("pushedBytes").asLong()).as("bytes this up-to-date push added").isZero();
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("log", "m", "--json").ok().json()).hasSize(1);
    assertThat(j.get("newStoredBytes")).as("the version's own figure, as log gives it")
        .isEqualTo(cli.run("log", "m", "--json").ok().json().get(0).get("newStoredBytes"));
    assertThat(cli.run("ls", "--json").ok().json().get(0).get("versionCount").asLong()).isEqualTo(1);
  }

  /** An up-to-date push dropped the --meta the head lacks with nothing said, exit 0 as if it were recorded. */
  @Test
  void anUpToDatePushNamesTheMetaItDidNotRecord() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = model("m", base(), "{\"a\":1}");
    String v1 = cli.push(dir, "m", "--meta", "stage=dev");
    Map<String, String> before = cli.state();
    Cli.Result r = cli.run("push", dir.toString(), "m", "--meta", "stage=dev", "--meta", "eval.acc=0.93").ok();
    assertThat(r.out().strip()).isEqualTo(v1);
    assertThat(r.err()).contains("up to date").contains("note: --meta eval.acc not recorded: the content is the"
        + " head's, so no version was made to hold it").doesNotContain("stage");
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("push", dir.toString(), "m", "--meta", "stage=dev").ok().err()).doesNotContain("note:");
  }

  @Test
  void logLsShowDiffTagRollback() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    List<Tensor> a = base();
    String v1 = cli.push(model("a", a, "{\"a\":1}"), "m", "-m", "base");
    // v2: one tensor changed, one added, one removed, one reshaped, one dtype changed; config changed; a file added
    List<Tensor> b = new ArrayList<>(List.of(t("embed", DType.BF16, 1, 64, 128),
        t("layer.0.w", DType.BF16, 99, 128, 128), t("layer.0.norm", DType.BF16, 3, 128),
        t("layer.1.w", DType.BF16, 4, 256, 64), t("head", DType.BF16, 6, 64, 128), t("layer.2.w", DType.BF16, 7, 8)));
    Path db = model("b", b, "{\"a\":2}");
    Files.writeString(db.resolve("README.md"), "new file");
    String v2 = cli.push(db, "m:candidate", "-m", "fine-tune");
    String v3 = cli.push(model("c", ModelGenerator.finetune(b, 0.5, 3), "{\"a\":3}"), "m", "-m", "third");
    assertThat(List.of(v1, v2, v3)).doesNotHaveDuplicates();

    JsonNode log = cli.run("log", "m", "--json").ok().json();
    assertThat(ids(log)).containsExactly(v3, v2, v1);
    assertThat(log.get(0).get("message").asText()).isEqualTo("third");
    assertThat(ids(cli.run("log", "m", "-n", "2", "--json").ok().json())).containsExactly(v3, v2);
    assertThat(cli.run("log", "m", "-n", "1").ok().out().strip().split("\n")).hasSize(1);
    assertThat(ids(cli.run("log", "m:candidate", "--json").ok().json())).containsExactly(v2, v1);

    JsonNode ls = cli.run("ls", "--json").ok().json();
    assertThat(ls).hasSize(1);
    assertThat(ls.get(0).get("model").asText()).isEqualTo("m");
    assertThat(ls.get(0).get("head").asText()).isEqualTo(v3);
    assertThat(ls.get(0).get("versionCount").asLong()).isEqualTo(3);
    assertThat(ls.get(0).get("tags").get("candidate").asText()).isEqualTo(v2);

    JsonNode show = cli.run("show", "m:candidate", "--json").ok().json();
    assertThat(show.get("version").asText()).isEqualTo(v2);
    assertThat(show.get("parents").get(0).asText()).isEqualTo(v1);
    List<String> tensorNames = new ArrayList<>();
    show.get("files").forEach(f -> {
      if (f.has("tensors")) {
        f.get("tensors").forEach(t -> tensorNames.add(t.get("name").asText()));
      }
    });
    assertThat(tensorNames).containsExactlyInAnyOrder("embed", "layer.0.w", "layer.0.norm", "layer.1.w", "head",
        "layer.2.w");

    JsonNode diff = cli.run("diff", "m@" + v1.substring(0, 8), "m:candidate", "--json").ok().json();
    Map<String, String> changes = new HashMap<>();
    diff.get("tensors").forEach(t -> changes.put(t.get("name").asText(), t.get("change").asText()));
    assertThat(changes).containsExactlyInAnyOrderEntriesOf(Map.of("layer.0.w", "changed", "layer.0.norm",
        "dtypeChanged", "layer.1.w", "reshaped", "layer.1.norm", "removed", "layer.2.w", "added"));
    assertThat(diff.get("unchangedTensorCount").asLong()).isEqualTo(2);
    Map<String, String> fileChanges = new HashMap<>();
    diff.get("files").forEach(f -> fileChanges.put(f.get("path").asText(), f.get("change").asText()));
    assertThat(fileChanges).containsEntry("config.json", "changed").containsEntry("README.md", "added");
    assertThat(cli.run("diff", "m", "m").ok().out()).contains("0 tensors changed");
    // ~N: the version N steps back in the model's log
    assertThat(cli.run("diff", "m~2", "m:candidate", "--json").ok().json().get("a").asText()).isEqualTo(v1);
    assertThat(cli.run("show", "m~1", "--json").ok().json().get("version").asText()).isEqualTo(v2);
    assertThat(cli.run("show", "m:candidate~1", "--json").ok().json().get("version").asText()).isEqualTo(v1);
    cli.run("show", "m~3").exits(1).oneLineError("m~3: there are 2 versions before m in the history of m");

    // tags: create, move with the right --expect, refuse a wrong one without touching the store
    cli.run("tag", "m@" + v1.substring(0, 6), "prod").ok();
    cli.run("tag", "m:candidate", "prod", "--expect", v1).ok();
    Map<String, String> before = cli.state();
    // the ref is named as the user writes it, not as it is stored (m/tags/prod)
    assertThat(cli.run("tag", "m", "prod", "--expect", v1).exits(4).oneLineError("m:prod points at " + v2).err())
        .doesNotContain("tags/");
    // a tag differing only in case from another, or from 'head', cannot share the store
    cli.run("tag", "m", "Prod").exits(1).oneLineError("tag 'Prod' of 'm' differs only in case from its tag 'prod'");
    cli.run("tag", "m", "HEAD").exits(1).oneLineError("'HEAD' differs only in case from 'head'");
    cli.run("push", tmp.resolve("a").toString(), "m:PROD").exits(1).oneLineError("differs only in case");
    // nor one named like a version id, which a revision (the Hugging Face endpoint's) would be taken for
    cli.run("tag", "m", "AB".repeat(32)).exits(1).oneLineError("tag '" + "AB".repeat(32) + "' looks like a version id");
    // nor a new name that git refuses in a ref name: one ending with '.' or '.lock', or holding '..'
    cli.run("tag", "m", "v1.").exits(1).oneLineError("tag name 'v1.' cannot be created: it ends with '.'");
    cli.run("tag", "m", "a..b").exits(1).oneLineError("tag name 'a..b' cannot be created: it holds '..'");
    cli.run("tag", "m", "x.lock").exits(1).oneLineError("tag name 'x.lock' cannot be created: it ends with '.lock'");
    cli.run("push", tmp.resolve("a").toString(), "m:rc.").exits(1).oneLineError("tag name 'rc.'");
    cli.run("push", tmp.resolve("a").toString(), "llama./m").exits(1)
        .oneLineError("model name 'llama./m' cannot be created: it ends with '.'");
    cli.run("derive", "cast", "m", "--to", "f16", "--as", "m..f16").exits(1).oneLineError("model name 'm..f16'");
    assertThat(cli.run("tag", "m", "prod", "--expect", v1.substring(0, 10)).exits(2).err()).contains("--expect");
    assertThat(cli.state()).isEqualTo(before);
    cli.run("tag", "m", "prod", "--expect", v2, "--json").ok();
    assertThat(cli.run("log", "m:prod", "-n", "1", "--json").ok().json().get(0).get("version").asText())
        .isEqualTo(v3);

    // rollback twice goes back two steps; a third has nothing to go back to; with --expect, a rollback from a
    // version the tag has left already (a second operator undoing the same deploy) changes nothing and exits 4
    before = cli.state();
    cli.run("rollback", "m:prod", "--expect", v2).exits(4).oneLineError("m:prod points at " + v3);
    assertThat(cli.run("rollback", "m:prod", "--expect", "abc").exits(2).err()).contains("--expect");
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("rollback", "m:prod", "--expect", v3, "--json").ok().json().get("new").asText()).isEqualTo(v2);
    cli.run("rollback", "m:prod", "--expect", v3).exits(4).oneLineError("not at the expected " + v3);
    assertThat(cli.run("rollback", "m:prod").ok().out()).contains(v1);
    before = cli.state();
    cli.run("rollback", "m:prod").exits(1).oneLineError("m:prod");
    assertThat(cli.state()).isEqualTo(before);
    cli.run("rollback", "m:nosuchtag").exits(1).oneLineError("nosuchtag");
    cli.run("rollback", "nosuchmodel:prod").exits(1).oneLineError("nosuchmodel");

    // name:tag//path for pull
    Path out = tmp.resolve("out");
    cli.run("pull", "m:candidate//README.md", out.toString()).ok();
    assertThat(out.resolve("README.md")).hasContent("new file");
    cli.run("pull", "m:candidate//nope", tmp.resolve("out2").toString()).exits(1).oneLineError("nope");
  }

  @Test
  void emptyTensorsAreUnchangedWhereverTheyMoveAndWhateverTheirNeighboursDo() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = Files2.safetensors(tmp.resolve("a/model.safetensors"), t("w", DType.F32, 1, 4), t("e", DType.F32, 2, 0),
        t("z", DType.BF16, 3, 0, 128), t("u", DType.F16, 4, 8));
    String v1 = cli.push(a.getParent(), "m");
    // the empty tensors first and last; w's values change, u's do not
    Path b = Files2.safetensors(tmp.resolve("b/model.safetensors"), t("e", DType.F32, 2, 0), t("w", DType.F32, 9, 4),
        t("u", DType.F16, 4, 8), t("z", DType.BF16, 3, 0, 128));
    cli.push(b.getParent(), "m");
    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    Map<String, String> changes = new HashMap<>();
    diff.get("tensors").forEach(t -> changes.put(t.get("name").asText(), t.get("change").asText()));
    assertThat(changes).containsExactlyInAnyOrderEntriesOf(Map.of("w", "changed"));
    assertThat(diff.get("unchangedTensorCount").asLong()).isEqualTo(3);
  }

  /**
   * A tensor whose name one file holds, moved to another shard with its bytes, is unchanged; the diff did not say it
   * moved. It is counted in the text and listed in --json with both files.
   */
  @Test
  void aTensorMovedToAnotherShardIsUnchangedAndSaidToHaveMoved() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = Files2.safetensors(tmp.resolve("a/one.safetensors"), t("w", DType.F32, 1, 4), t("v", DType.F32, 2, 4));
    Files2.safetensors(a.resolveSibling("two.safetensors"), t("u", DType.F32, 3, 4));
    String v1 = cli.push(a.getParent(), "m");
    Path b = Files2.safetensors(tmp.resolve("b/one.safetensors"), t("v", DType.F32, 2, 4));
    Files2.safetensors(b.resolveSibling("two.safetensors"), t("u", DType.F32, 3, 4), t("w", DType.F32, 1, 4));
    cli.push(b.getParent(), "m");
    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    assertThat(diff.get("tensors")).isEmpty();
    assertThat(diff.get("unchangedTensorCount").asLong()).isEqualTo(3);
    assertThat(diff.get("movedTensors")).hasSize(1);
    JsonNode w = diff.get("movedTensors").get(0);
    assertThat(w.get("name").asText()).isEqualTo("w");
    assertThat(w.get("fileA").asText()).isEqualTo("one.safetensors");
    assertThat(w.get("fileB").asText()).isEqualTo("two.safetensors");
    assertThat(cli.run("diff", "m@" + v1, "m").ok().out())
        .contains("0 tensors changed, 3 unchanged (1 moved to another file); 2 files differ");
  }

  /**
   * A file pushed once as safetensors and once with --opaque holds the same bytes: the diff showed its tensors removed
   * and "0 files differ", without a word of why. The file is shown changed, with the kinds it is stored as.
   */
  @Test
  void aFileStoredAsAnotherKindIsShownWithItsKinds() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = Files2.safetensors(tmp.resolve("a/model.safetensors"), t("w", DType.F32, 1, 4), t("v", DType.F32, 2, 4));
    String v1 = cli.push(a.getParent(), "m");
    cli.run("push", a.getParent().toString(), "m", "--opaque", "model.safetensors").ok();
    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    assertThat(diff.get("tensors")).hasSize(2);
    assertThat(diff.get("files")).hasSize(1);
    JsonNode f = diff.get("files").get(0);
    assertThat(f.get("path").asText()).isEqualTo("model.safetensors");
    assertThat(f.get("change").asText()).isEqualTo("changed");
    assertThat(f.get("formatA").asText()).isEqualTo("safetensors");
    assertThat(f.get("formatB").asText()).isEqualTo("opaque");
    assertThat(f.get("sameBytes").asBoolean()).isTrue();
    assertThat(cli.run("diff", "m@" + v1, "m").ok().out())
        .contains("~ file model.safetensors (same bytes, stored as safetensors -> opaque)")
        .contains("2 tensors changed, 0 unchanged; 1 file differs");
  }

  /**
   * A file whose bytes changed and that is stored as another kind (new values, pushed with --opaque) was shown as
   * "~ file model.safetensors (120 B -> 136 B)", without its kinds, which a file with the same bytes did show. Both
   * are shown, in text and in --json, where sameBytes tells the two cases apart.
   */
  @Test
  void aFileWhoseBytesAndKindChangedIsShownWithBoth() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = Files2.safetensors(tmp.resolve("a/model.safetensors"), t("w", DType.F32, 1, 4));
    String v1 = cli.push(a.getParent(), "m");
    long sizeA = Files.size(a);
    Files2.safetensors(a, t("w", DType.F32, 2, 4));
    cli.run("push", a.getParent().toString(), "m", "--opaque", "model.safetensors").ok();
    JsonNode f = cli.run("diff", "m@" + v1, "m", "--json").ok().json().get("files").get(0);
    assertThat(f.get("change").asText()).isEqualTo("changed");
    assertThat(f.get("formatA").asText() + " -> " + f.get("formatB").asText()).isEqualTo("safetensors -> opaque");
    assertThat(f.get("sameBytes").asBoolean(true)).isFalse();
    assertThat(cli.run("diff", "m@" + v1, "m").ok().out()).contains("~ file model.safetensors (" + sizeA + " B -> "
        + Files.size(a) + " B, stored as safetensors -> opaque)");
    JsonNode same = cli.run("diff", "m@" + v1, "m@" + v1, "--json").ok().json();
    assertThat(same.get("files")).isEmpty();
  }

  /**
   * A file moved to another path, byte for byte, is shown renamed, not removed and added; a second copy of its bytes
   * stays added, a file changed in place stays changed, and empty files are never paired (any two are the same bytes).
   */
  @Test
  void aFileMovedToAnotherPathIsShownRenamed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = Files2.safetensors(tmp.resolve("a/model.safetensors"), t("w", DType.F32, 1, 4));
    Files.writeString(a.resolveSibling("tokenizer.json"), "{\"vocab\": [\"\u00e9t\u00e9\"]}");
    Files.writeString(a.resolveSibling("config.json"), "{\"a\": 1}");
    Files.writeString(a.resolveSibling("empty.txt"), "");
    String v1 = cli.push(a.getParent(), "m");
    Path b = Files2.safetensors(tmp.resolve("b/weights/model.safetensors"), t("w", DType.F32, 1, 4));
    Files.writeString(b.getParent().resolveSibling("tok.json"), "{\"vocab\": [\"\u00e9t\u00e9\"]}");
    Files.writeString(b.getParent().resolveSibling("tok-copy.json"), "{\"vocab\": [\"\u00e9t\u00e9\"]}");
    Files.writeString(b.getParent().resolveSibling("config.json"), "{\"a\": 2}");
    Files.writeString(b.getParent().resolveSibling("blank.txt"), "");
    cli.push(b.getParent().getParent(), "m");

    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    assertThat(diff.get("tensors")).as("w's bytes moved with its file").isEmpty();
    Map<String, String> files = new HashMap<>();
    Map<String, String> from = new HashMap<>();
    diff.get("files").forEach(f -> {
      files.put(f.get("path").asText(), f.get("change").asText());
      if (f.has("renamedFrom")) {
        from.put(f.get("path").asText(), f.get("renamedFrom").asText());
      }
    });
    assertThat(files).containsExactlyInAnyOrderEntriesOf(Map.of("weights/model.safetensors", "renamed",
        "tok-copy.json", "renamed", "tok.json", "added", "config.json", "changed", "empty.txt", "removed",
        "blank.txt", "added"));
    // paired in path order: tok-copy.json sorts before tok.json
    assertThat(from).containsExactlyInAnyOrderEntriesOf(Map.of("weights/model.safetensors", "model.safetensors",
        "tok-copy.json", "tokenizer.json"));
    String out = cli.run("diff", "m@" + v1, "m").ok().out();
    assertThat(out).contains("~ file model.safetensors -> weights/model.safetensors (renamed, ")
        .contains("~ file tokenizer.json -> tok-copy.json (renamed, ").contains("+ file tok.json")
        .contains("- file empty.txt").contains("0 tensors changed, 1 unchanged; 6 files differ");
    assertThat(out).doesNotContain("- file model.safetensors").doesNotContain("- file tokenizer.json");
  }

  /**
   * A tensor whose name two files hold (a diffusers pipeline's unet/ and vae/) is told apart by its file; moved with
   * its file, it was shown "renamed" from its own name, where a tensor of a name one file holds is unchanged when its
   * file moves. It is unchanged too; the file is shown renamed.
   */
  @Test
  void aTensorOfASharedNameMovedWithItsFileIsUnchanged() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Files2.safetensors(tmp.resolve("a/unet/model.safetensors"), t("w", DType.F32, 1, 4, 4));
    Files2.safetensors(tmp.resolve("a/vae/model.safetensors"), t("w", DType.F32, 2, 4, 4));
    String v1 = cli.push(tmp.resolve("a"), "m");
    Files2.safetensors(tmp.resolve("b/unet/model.safetensors"), t("w", DType.F32, 1, 4, 4));
    Files2.safetensors(tmp.resolve("b/vae2/model.safetensors"), t("w", DType.F32, 2, 4, 4));
    cli.push(tmp.resolve("b"), "m");

    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    assertThat(diff.get("tensors")).as("w's bytes moved with its file").isEmpty();
    assertThat(diff.get("unchangedTensorCount").asLong()).isEqualTo(2);
    assertThat(cli.run("diff", "m@" + v1, "m").ok().out())
        .contains("~ file vae/model.safetensors -> vae2/model.safetensors (renamed, ")
        .contains("0 tensors changed, 2 unchanged; 1 file differs");
  }

  /**
   * A tensor B holds under a new name, with the same dtype, shape and bytes, is shown renamed (it was removed and
   * added, unlike a file); a second copy of its bytes stays added, one with the same bytes and another shape stays
   * added, and empty tensors are never paired.
   */
  @Test
  void aTensorUnderANewNameIsShownRenamed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    byte[] w = Files2.random(new java.util.Random(1), 128);
    byte[] x = Files2.random(new java.util.Random(2), 16);
    byte[] y = Files2.random(new java.util.Random(3), 32);
    String v1 = cli.push(safetensors(tmp.resolve("a/model.safetensors"), "w", "F32", "[4,8]", w, "old.a", "F32",
        "[4]", x, "flat", "F32", "[8]", y, "none", "F32", "[0,4]", new byte[0]).getParent(), "m");
    cli.push(safetensors(tmp.resolve("b/model.safetensors"), "w", "F32", "[4,8]", w, "new.a", "F32", "[4]", x,
        "new.b", "F32", "[4]", x, "square", "F32", "[2,4]", y, "nothing", "F32", "[0,4]", new byte[0]).getParent(),
        "m");

    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    Map<String, String> change = new HashMap<>();
    Map<String, String> from = new HashMap<>();
    diff.get("tensors").forEach(e -> {
      change.put(e.get("name").asText(), e.get("change").asText());
      if (e.has("renamedFrom")) {
        from.put(e.get("name").asText(), e.get("renamedFrom").asText());
      }
    });
    assertThat(change).containsExactlyInAnyOrderEntriesOf(Map.of("new.a", "renamed", "new.b", "added",
        "flat", "removed", "square", "added", "none", "removed", "nothing", "added"));
    assertThat(from).containsExactlyEntriesOf(Map.of("new.a", "old.a"));
    String out = cli.run("diff", "m@" + v1, "m").ok().out();
    assertThat(out).contains("~ old.a -> new.a (renamed, F32 [4])").doesNotContain("- old.a")
        .contains("6 tensors changed, 1 unchanged");
  }

  /**
   * A tensor reshaped or retyped whose bytes stay the same is said to be ("(same bytes)", {@code sameBytes} in the
   * JSON): "dtype F32 -> I32" alone did not tell a reinterpretation from new values.
   */
  @Test
  void aReshapeOrRetypeSaysWhetherTheBytesStayed() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    byte[] x = Files2.random(new java.util.Random(1), 16);
    byte[] y = Files2.random(new java.util.Random(2), 64);
    byte[] z = Files2.random(new java.util.Random(3), 8);
    String v1 = cli.push(safetensors(tmp.resolve("a/model.safetensors"), "x", "F32", "[4]", x, "y", "F32", "[4,4]", y,
        "z", "BF16", "[2,2]", z).getParent(), "m");
    cli.push(safetensors(tmp.resolve("b/model.safetensors"), "x", "I32", "[4]", x, "y", "F32", "[2,8]", y,
        "z", "F16", "[2,2]", Files2.random(new java.util.Random(4), 8)).getParent(), "m");
    String out = cli.run("diff", "m@" + v1, "m").ok().out();
    assertThat(out).containsPattern("~ x +dtype F32 -> I32 \\(same bytes\\)\n")
        .containsPattern("~ y +shape \\[4, 4\\] -> \\[2, 8\\] \\(same bytes\\)\n")
        .containsPattern("~ z +dtype BF16 -> F16\n");
    JsonNode diff = cli.run("diff", "m@" + v1, "m", "--json").ok().json();
    Map<String, Boolean> same = new HashMap<>();
    diff.get("tensors").forEach(e -> same.put(e.get("name").asText(), e.get("sameBytes").asBoolean()));
    assertThat(same).containsExactlyInAnyOrderEntriesOf(Map.of("x", true, "y", true, "z", false));
  }

  /** A safetensors file of tensors given as name, dtype, shape (JSON) and bytes, in file order. */
  private static Path safetensors(Path file, Object... tensors) throws IOException {
    StringBuilder h = new StringBuilder("{");
    java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
    for (int i = 0; i < tensors.length; i += 4) {
      byte[] d = (byte[]) tensors[i + 3];
      h.append(i > 0 ? "," : "").append('"').append(tensors[i]).append("\":{\"dtype\":\"").append(tensors[i + 1])
          .append("\",\"shape\":").append(tensors[i + 2]).append(",\"data_offsets\":[").append(data.size()).append(',')
          .append(data.size() + d.length).append("]}");
      data.writeBytes(d);
    }
    byte[] header = h.append('}').toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return Files2.raw(file, header.length, header, data.toByteArray());
  }

  /** A copy of a ref that names nothing fails before the target store it would create exists. */
  @Test
  void aCopyOfNothingCreatesNoTargetStore() throws IOException {
    Cli source = new Cli(tmp.resolve("source")).init();
    source.push(model("base", base(), "{}"), "m");
    java.nio.file.Path fresh = tmp.resolve("fresh");
    source.run("copy", "nope", "--to", fresh.toString()).exits(1).oneLineError("no model 'nope'");
    source.run("copy", "m:nope", "--to", fresh.toString()).exits(1).oneLineError("has no tag 'nope'");
    assertThat(fresh).doesNotExist();
  }

  /** An empty --to is a usage error naming it, as an empty --store is; it said "empty store location" (exit 1). */
  @Test
  void anEmptyCopyTargetIsAUsageErrorNamingTheOption() throws IOException {
    Cli source = new Cli(tmp.resolve("source")).init();
    source.push(model("base", base(), "{}"), "m");
    assertThat(source.run("copy", "m", "--to", "").exits(2).err())
        .contains("ferry: --to is empty (an unset shell variable?)").contains("Try 'ferry copy --help'");
  }

  @Test
  void aCopyWhoseHeadCannotMoveIsRefusedBeforeItSendsAnything() throws IOException {
    Cli source = new Cli(tmp.resolve("source")).init();
    Cli target = new Cli(tmp.resolve("target")).init();
    String base = source.push(model("base", base(), "{}"), "m");
    source.run("copy", "m", "--to", target.store.toString()).ok();
    // each store moves on from base on its own: the histories diverge
    source.push(model("s", List.of(t("embed", DType.BF16, 7, 64, 128), t("s.w", DType.F32, 8, 512, 256)), "{}"),
        "m:prod");
    String targetHead = target.push(model("t", List.of(t("embed", DType.BF16, 9, 64, 128)), "{}"), "m");
    target.run("tag", "m", "prod").ok();
    Map<String, String> before = target.state();
    String err = source.run("copy", "m", "--to", target.store.toString()).exits(4).err();
    assertThat(err).contains("head of m").contains("nothing was copied");
    assertThat(target.state()).isEqualTo(before);
    // the copy of a tag moves the tag and leaves a head on another history as it is
    JsonNode tagged = source.run("copy", "m:prod", "--to", target.store.toString(), "--json").ok().json();
    assertThat(tagged.get("movedRefs").toString()).contains("m:prod").doesNotContain("\"m\"");
    // what the moved tag named before: the copy moves it whatever version it was on
    assertThat(tagged.get("previousValues").get("m:prod").asText()).isEqualTo(targetHead);
    assertThat(tagged.get("previousValues").size()).isOne();
    assertThat(target.run("show", "m", "--json").ok().json().get("version").asText()).isEqualTo(targetHead);
    assertThat(target.run("show", "m:prod", "--json").ok().json().get("version").asText())
        .isEqualTo(source.run("show", "m:prod", "--json").ok().json().get("version").asText());
    before = target.state();
    // an ancestor of the target's head is already there: nothing to send, the head stays
    JsonNode r = source.run("copy", "m@" + base, "--to", target.store.toString(), "--json").ok().json();
    assertThat(r.get("movedRefs").size()).isZero();
    assertThat(target.state()).isEqualTo(before);
  }

  /**
   * A copy of a derived model brings the version it derives from, of another model that has no ref in the target:
   * {@code lineage} names it by model and short id there, and that name resolves as the full id does.
   */
  @Test
  void aCopiedBaseOfAnotherModelResolvesByTheShortIdLineagePrints() throws IOException {
    Cli source = new Cli(tmp.resolve("source")).init();
    Cli target = new Cli(tmp.resolve("target")).init();
    String base = source.push(model("base", base(), "{}"), "teacher");
    source.push(model("s", List.of(t("s.w", DType.F32, 8, 64, 64)), "{}"), "student", "--derived-from", "teacher",
        "--derivation", "distill");
    source.run("copy", "student", "--to", target.store.toString()).ok();
    String short12 = base.substring(0, 12);
    assertThat(target.run("lineage", "student").ok().out()).contains(short12 + "  teacher");
    Map<String, String> before = target.state();
    assertThat(target.run("show", "teacher@" + short12, "--json").ok().json().get("version").asText())
        .isEqualTo(base);
    assertThat(target.run("lineage", "teacher@" + short12, "--json").ok().json().toString()).contains(base);
    assertThat(target.run("show", "teacher@" + base, "--json").ok().json().get("version").asText()).isEqualTo(base);
    // a prefix that matches no version of that name is still "no model"
    String other = base.startsWith("0000") ? "1111" : "0000";
    target.run("show", "teacher@" + other).exits(1).oneLineError("no model 'teacher'");
    assertThat(target.state()).isEqualTo(before);
    // damage elsewhere in the store is reported by what reads it, not by a lookup of another name
    String damaged = target.push(model("d", List.of(t("d.w", DType.F32, 9, 8, 8)), "{}"), "damaged");
    Path object = target.store.resolve("objects").resolve(damaged.substring(0, 2)).resolve(damaged.substring(2));
    byte[] bytes = Files.readAllBytes(object);
    bytes[bytes.length / 2] ^= 0x01;
    Files.write(object, bytes);
    target.run("show", "teacher@" + short12, "--json").ok();
    target.run("show", "nope@" + other).exits(1).oneLineError("no model 'nope'");
  }

  /**
   * A copy is refused, before anything is sent, where a push would be: a model or tag whose name differs only in case
   * from one the target has would share its refs there on a case-insensitive file system.
   */
  @Test
  void aCopyIsRefusedANameThatDiffersOnlyInCaseFromOneTheTargetHas() throws IOException {
    Cli source = new Cli(tmp.resolve("source")).init();
    Cli target = new Cli(tmp.resolve("target")).init();
    source.push(model("a", base(), "{}"), "abc:PROD");
    target.push(model("b", base(), "{\"b\": 1}"), "ABC");
    Map<String, String> before = target.state();
    source.run("copy", "abc", "--to", target.store.toString()).exits(1).oneLineError("'abc'", "'ABC'", "case");
    assertThat(target.state()).isEqualTo(before);
    target.run("rm", "ABC").ok();
    source.run("copy", "abc", "--to", target.store.toString()).ok();
    target.run("tag", "abc", "prod").ok();
    before = target.state();
    source.run("copy", "abc:PROD", "--to", target.store.toString()).exits(1)
        .oneLineError("'PROD'", "'prod'", "case");
    assertThat(target.state()).isEqualTo(before);
  }

  /**
   * A rollback of a model's head is undone by {@code rollback --to} the version it moved off (a second rollback goes
   * further back, and {@code tag} moves only tags); a version of another model, an unknown one or a wrong
   * {@code --expect} changes nothing.
   */
  @Test
  void aRolledBackHeadMovesForwardAgainWithRollbackTo() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", base(), "{}"), "m");
    String v2 = cli.push(model("a", base(), "{\"step\": 2}"), "m");
    cli.push(model("a", base(), "{\"other\": 1}"), "n");
    cli.run("rollback", "m").ok();
    assertThat(cli.run("log", "m", "-n", "1", "--json").ok().json().get(0).get("version").asText()).isEqualTo(v1);
    Map<String, String> before = cli.state();
    cli.run("rollback", "m", "--to", "0000000000").exits(1).oneLineError("0000000000");
    // tag's arguments as a ref in git's order, or a TAG with its model: named as such, with the command to use
    String v2Short = v2.substring(0, 8);
    assertThat(cli.run("tag", "m:new", "m@" + v2Short).exits(2).err())
        .contains("TAG 'm@" + v2Short + "' is a version, not a tag name").contains("ferry tag m@" + v2Short + " new");
    assertThat(cli.run("tag", "m@" + v2Short, "m:new").exits(2).err())
        .contains("TAG 'm:new' names a model too").contains("ferry tag m@" + v2Short + " new");
    // an argument that is no id prefix is named as the option, not as a ref 'm@abc' the user never wrote
    for (String bad : new String[] {"abc", "n:prod", "xyz1", "m@" + v2.substring(0, 8)}) {
      String err = cli.run("rollback", "m", "--to", bad).exits(2).err();
      assertThat(err).contains("--to '" + bad + "' is not a version id or a prefix of one (4 to 64 hex digits)")
          .doesNotContain("m@" + bad);
    }
    String other = cli.run("log", "n", "-n", "1", "--json").ok().json().get(0).get("version").asText();
    cli.run("rollback", "m", "--to", other.substring(0, 12)).exits(1).oneLineError(other.substring(0, 12));
    cli.run("rollback", "m", "--to", v2.substring(0, 8), "--expect", v2).exits(4).oneLineError("not at the expected");
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("rollback", "m", "--to", v2.substring(0, 8)).ok().out()).contains(v2);
    assertThat(cli.run("log", "m", "-n", "1", "--json").ok().json().get(0).get("version").asText()).isEqualTo(v2);
    // --to where it already points moves nothing, logs nothing and says so, as tag does
    Map<String, String> atV2 = cli.state();
    assertThat(cli.run("rollback", "m", "--to", v2.substring(0, 8)).ok().line()).isEqualTo("m -> " + v2
        + " (unchanged)");
    assertThat(cli.state()).isEqualTo(atV2);
    assertThat(cli.run("reflog", "m").ok().out()).contains("rollback from " + v1.substring(0, 12) + " to "
        + v2.substring(0, 12));
    // and a plain rollback from there goes back to where the head was before v2, as from a push of v2
    assertThat(cli.run("rollback", "m").ok().out()).contains(v1);
  }

  @Test
  void rollbackOfAFreshTagHasNoHistory() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("a", base(), "{}"), "m:prod");
    Map<String, String> before = cli.state();
    cli.run("rollback", "m:prod").exits(1).oneLineError("m:prod");
    cli.run("rollback", "m").exits(1).oneLineError("m");
    assertThat(cli.state()).isEqualTo(before);
  }

  /** A rollback of a deleted tag says that it was deleted, by what, what it named and how to put it back. */
  @Test
  void rollbackOfADeletedTagSaysHowToPutItBack() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("a", base(), "{}"), "m:prod");
    String v2 = cli.push(model("b", base(), "{\"b\": 1}"), "m:prod");
    cli.run("tag", "-d", "m:prod").ok();
    Map<String, String> before = cli.state();
    cli.run("rollback", "m:prod").exits(1).oneLineError("m:prod was deleted", "tag -d prod",
        "ferry tag m@" + v2.substring(0, 12) + " prod");
    assertThat(cli.state()).isEqualTo(before);
    cli.run("rm", "m").ok();
    before = cli.state();
    cli.run("rollback", "m").exits(1).oneLineError("m was deleted", "rm");
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void versionPrefixes() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", base(), "{\"a\":1}"), "m");
    String v2 = cli.push(model("b", base(), "{\"a\":2}"), "m");
    assertThat(cli.run("show", "m@" + v1.substring(0, 4), "--json").ok().json().get("version").asText())
        .isEqualTo(v1);
    assertThat(cli.run("show", "m@" + v2.toUpperCase(), "--json").ok().json().get("version").asText())
        .isEqualTo(v2);
    String unknown = v1.charAt(0) == '0' ? "1111" : "0000";
    if (!v2.startsWith(unknown)) {
      cli.run("show", "m@" + unknown).exits(1).oneLineError(unknown);
    }
    cli.run("show", "m@abc").exits(1).oneLineError("abc");
    cli.run("show", "m@zzzz").exits(1).oneLineError("zzzz");
    cli.run("show", "other@" + v1.substring(0, 8)).exits(1).oneLineError("other");
    cli.run("show", "m@" + v1.substring(0, 8) + ":x").exits(1);
  }

  /** Two ids with a common prefix in a model's ref logs: the prefix is ambiguous and the error lists both. */
  @Test
  void ambiguousPrefix() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    ChunkId x = ChunkId.parse("abcd" + "0".repeat(60));
    ChunkId y = ChunkId.parse("abcd" + "1".repeat(60));
    try (Backend b = Ferry.openBackend(cli.store.toString(), StoreOptions.existing())) {
      b.refs().compareAndSet("m/tags/t", null, x, new RefLogEntry(null, x, "test", Instant.now(), "test"));
      b.refs().compareAndSet("m/tags/t", x, y, new RefLogEntry(x, y, "test", Instant.now(), "test"));
    }
    cli.run("show", "m@abcd").exits(1).oneLineError("ambiguous", "abcd00000000", "abcd11111111");
  }

  @Test
  void everyCommandPrintsJson() throws IOException {
    Cli cli = new Cli(tmp.resolve("store"));
    cli.run("init", "--json").ok().json();
    String v1 = cli.push(model("a", base(), "{\"a\":1}"), "m:prod");
    cli.push(model("b", base(), "{\"a\":2}"), "m:prod");
    Path out = tmp.resolve("out");
    List<String[]> commands = List.of(new String[] {"ls"}, new String[] {"log", "m"}, new String[] {"show", "m"},
        new String[] {"diff", "m@" + v1, "m"}, new String[] {"tag", "m", "other"},
        new String[] {"rollback", "m:prod"}, new String[] {"pull", "m", out.toString()},
        new String[] {"verify"}, new String[] {"verify", "m"}, new String[] {"gc", "--dry-run"},
        new String[] {"gc"}, new String[] {"stats"});
    for (String[] c : commands) {
      List<String> args = new ArrayList<>(List.of(c));
      args.add("--json");
      Cli.Result r = cli.run(args.toArray(new String[0])).ok();
      assertThat(r.json()).as("JSON of %s", String.join(" ", c)).isNotNull();
      assertThat(r.json().isContainerNode()).as("JSON of %s: %s", String.join(" ", c), r.out()).isTrue();
    }
  }

  @Test
  void helpOfEveryCommandHasAnExample() {
    for (String c : List.of("init", "push", "pull", "ls", "log", "show", "diff", "tag", "rollback", "cat", "verify",
        "gc", "stats")) {
      Cli.Result r = Cli.raw(c, "--help").ok();
      assertThat(r.out()).as("help of %s", c).containsIgnoringCase("example");
    }
    assertThat(Cli.raw("--help").ok().out()).contains("Exit codes").contains("4  conflict");
  }

  private static List<String> ids(JsonNode arr) {
    List<String> out = new ArrayList<>();
    arr.forEach(n -> out.add(n.get("version").asText()));
    return out;
  }
}
