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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ferry rm MODEL@ID} and {@code ferry mv OLD NEW}: what they move, what they refuse, and that gc follows. */
class RmVersionMvTest {
  @TempDir Path tmp;

  private Path model(String name, long seed) throws IOException {
    Path dir = tmp.resolve(name);
    ModelGenerator.writeHfModel(dir, List.of(t("embed", DType.BF16, seed, 64, 128), t("head", DType.F32, seed + 1,
        32, 64)), 256 << 10);
    Files.writeString(dir.resolve("config.json"), "{\"seed\": " + seed + "}");
    return dir;
  }

  @Test
  void rmOfTheHeadVersionMovesTheHeadBackAndGcFreesIt() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", 1), "m");
    String v2 = cli.push(model("b", 2), "m");
    Cli.Result r = cli.run("rm", "m@" + v2.substring(0, 8)).ok();
    assertThat(r.out()).contains("moved m back to " + v1.substring(0, 12));
    assertThat(ids(cli.run("log", "m", "--json").ok().json())).containsExactly(v1);
    JsonNode reflog = cli.run("reflog", "m", "--json").ok().json();
    assertThat(reflog.get(0).get("why").asText()).isEqualTo("rm m@" + v2.substring(0, 12));
    assertThat(reflog.get(0).get("old").asText()).isEqualTo(v2);
    // kept for the grace period (the ref log still names it), freed after it
    cli.run("gc", "--grace", "1h").ok();
    cli.run("show", "m@" + v2).ok();
    long before = Cli.bytesUnder(cli.store);
    cli.run("gc", "--grace", "0").ok();
    assertThat(Cli.bytesUnder(cli.store)).isLessThan(before);
    assertThat(cli.run("show", "m@" + v2).code()).as("gone after the grace period").isNotZero();
    cli.run("verify").ok();
    cli.run("pull", "m", tmp.resolve("out").toString()).ok();
    // the model's only version: its head is deleted
    cli.run("rm", "m@" + v1).ok();
    assertThat(cli.run("ls", "--json").ok().json()).isEmpty();
  }

  @Test
  void rmOfAVersionRefusesChangingNothingWhenSomethingNeedsIt() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", 1), "m");
    cli.run("tag", "m", "prod").ok();
    String v2 = cli.push(model("b", 2), "m");
    String d1 = cli.push(model("c", 3), "student", "--derived-from", "m@" + v2, "--derivation", "distill");
    Map<String, String> before = cli.state();
    // v1 is under v2: a newer version builds on it, with or without --force
    cli.run("rm", "m@" + v1).exits(1).oneLineError("history of m", "nothing was removed");
    cli.run("rm", "m@" + v1, "--force").exits(1).oneLineError("history of m");
    // v2 is the head, but student derives from it
    cli.run("rm", "m@" + v2).exits(1).oneLineError("student", "--force", "nothing was removed");
    assertThat(cli.state()).as("refusals change nothing").isEqualTo(before);
    // a tag points at it: --force deletes the tag too
    cli.run("tag", "m", "v2").ok();
    cli.run("rm", "m@" + v2, "--force").ok();
    assertThat(cli.run("ls", "--json").ok().json().toString()).doesNotContain("\"v2\"");
    assertThat(ids(cli.run("log", "m", "--json").ok().json())).containsExactly(v1);
    assertThat(cli.run("log", "student", "--json").ok().json().get(0).get("version").asText()).isEqualTo(d1);
    cli.run("gc", "--grace", "0").ok();
    cli.run("verify").ok();
    cli.run("pull", "student@" + d1, tmp.resolve("st").toString()).ok();
    assertThat(cli.run("lineage", "student", "--json").ok().json().get("parents").toString())
        .as("v2 is student's history: kept by gc").contains(v2);
    // refusals left the store as it was
    Cli other = new Cli(tmp.resolve("other")).init();
    String o1 = other.push(model("a", 1), "m");
    other.run("tag", "m", "prod").ok();
    Map<String, String> state = other.state();
    other.run("rm", "m@" + o1).exits(1).oneLineError("tagged m:prod", "ferry tag -d m:prod");
    other.run("rm", "m@" + "f".repeat(12)).exits(1);
    assertThat(other.state()).isEqualTo(state);
  }

  @Test
  void mvMovesHeadAndTagsRecordsTheMoveAndRefusesAnExistingName() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    // neither a head nor a tag's target after the rename: found by walking the history, as log walks it
    String v0 = cli.push(model("z", 0), "old");
    String v1 = cli.push(model("a", 1), "old");
    cli.run("tag", "old", "prod").ok();
    String v2 = cli.push(model("b", 2), "old");
    cli.push(model("c", 3), "taken");
    Map<String, String> before = cli.state();
    cli.run("mv", "old", "taken").exits(1).oneLineError("'taken' exists", "nothing was moved");
    cli.run("mv", "nope", "fresh").exits(1).oneLineError("no model 'nope'");
    // one prefix, not "ferry mv: mv: ..."
    cli.run("mv", "old", "old").exits(1).oneLineError("ferry mv: cannot rename model 'old' to itself");
    cli.run("mv", "old", "bad name!").exits(1);
    assertThat(cli.state()).as("refusals change nothing").isEqualTo(before);

    Cli.Result r = cli.run("mv", "old", "org/New-Name").ok();
    assertThat(r.out()).contains("old:prod -> org/New-Name:prod").contains("old -> org/New-Name");
    JsonNode log = cli.run("log", "org/New-Name", "--json").ok().json();
    assertThat(ids(log)).containsExactly(v2, v1, v0);
    assertThat(log.get(1).get("refs").get(0).asText()).isEqualTo("org/New-Name:prod");
    cli.run("show", "old").exits(1);
    // its versions, made under the old name, resolve under the new one by full id as by prefix
    for (String v : new String[] {v0, v1, v2}) {
      assertThat(cli.run("show", "org/New-Name@" + v, "--json").ok().json().get("version").asText()).isEqualTo(v);
      assertThat(cli.run("show", "org/New-Name@" + v.substring(0, 12), "--json").ok().json().get("version").asText())
          .isEqualTo(v);
    }
    cli.run("show", "taken@" + v1).exits(1).oneLineError("model 'taken' has no version " + v1);
    assertThat(cli.run("ls", "--json").ok().json().toString()).doesNotContain("\"old\"");
    JsonNode newLog = cli.run("reflog", "org/New-Name:prod", "--json").ok().json();
    assertThat(newLog.get(0).get("why").asText()).isEqualTo("mv old org/New-Name");
    assertThat(cli.run("reflog", "old:prod", "--json").ok().json().get(0).get("why").asText())
        .isEqualTo("mv old org/New-Name");
    // what the old name held is still referenced: gc frees nothing, every version pulls
    cli.run("gc", "--grace", "0").ok();
    cli.run("verify").ok();
    cli.run("pull", "org/New-Name:prod", tmp.resolve("out").toString(), "--verify").ok();
    // a push continues the model under its new name, with its history: log and ls count all four
    String v3 = cli.push(model("d", 4), "org/New-Name");
    JsonNode after = cli.run("log", "org/New-Name", "--json").ok().json();
    assertThat(after.get(0).get("parents").get(0).asText()).isEqualTo(v2);
    assertThat(ids(after)).containsExactly(v3, v2, v1, v0);
    assertThat(cli.run("ls", "--json").ok().json().get(0).get("versionCount").asLong()).isEqualTo(4);
  }

  /**
   * A killed {@code mv} leaves some refs under the new name (created, each logged "mv OLD NEW") and all or some under
   * the old one; running the same mv again finishes it. It was refused ("'NEW' exists"), and the advice, rm NEW, would
   * have deleted tags that then existed only under the new name.
   */
  @Test
  void anInterruptedMvIsFinishedByRunningItAgain() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", 1), "old");
    cli.run("tag", "old", "t1").ok();
    String v2 = cli.push(model("b", 2), "old");
    cli.run("tag", "old", "t2").ok();
    cli.run("tag", "old", "t3").ok();
    // what a mv killed after its second create leaves: new:t1 and new:t2 made, nothing deleted yet
    try (io.ferry.store.local.LocalBackend b = io.ferry.store.local.LocalBackend.open(cli.store,
        io.ferry.store.StoreOptions.existing())) {
      for (Map.Entry<String, String> t : Map.of("t1", v1, "t2", v2).entrySet()) {
        io.ferry.id.ChunkId id = io.ferry.id.ChunkId.parse(t.getValue());
        assertThat(b.refs().compareAndSet(io.ferry.store.RefNames.tag("new", t.getKey()), null, id,
            new io.ferry.store.RefLogEntry(null, id, "someone", java.time.Instant.now(), "mv old new")).isSuccess())
            .isTrue();
      }
    }
    // a model of tags without a head is named as such, not "no model"
    cli.run("show", "new").exits(1).oneLineError("model 'new' has no head, only tags (t1, t2): name one, e.g. new:t1");
    // another rename into the half-made name is still refused
    cli.push(model("c", 3), "other");
    cli.run("mv", "other", "new").exits(1).oneLineError("'new' exists", "nothing was moved");
    cli.run("mv", "old", "new").ok();
    cli.run("show", "old").exits(1);
    assertThat(cli.run("show", "new:t1", "--json").ok().json().get("version").asText()).isEqualTo(v1);
    assertThat(cli.run("show", "new:t3", "--json").ok().json().get("version").asText()).isEqualTo(v2);
    assertThat(cli.run("show", "new", "--json").ok().json().get("version").asText()).isEqualTo(v2);
    assertThat(cli.run("ls", "--json").ok().json().toString()).doesNotContain("\"old\"");
    cli.run("verify").ok();

    // a ref of the new name that moved since the interrupted mv is not overwritten
    cli.run("tag", "new", "t9").ok();
    try (io.ferry.store.local.LocalBackend b = io.ferry.store.local.LocalBackend.open(cli.store,
        io.ferry.store.StoreOptions.existing())) {
      io.ferry.id.ChunkId id = io.ferry.id.ChunkId.parse(v1);
      assertThat(b.refs().compareAndSet(io.ferry.store.RefNames.tag("again", "t9"), null, id,
          new io.ferry.store.RefLogEntry(null, id, "someone", java.time.Instant.now(), "mv new again")).isSuccess())
          .isTrue();
    }
    Map<String, String> before = cli.state();
    cli.run("mv", "new", "again").exits(4).oneLineError("again:t9", "moved since the interrupted mv");
    assertThat(cli.state()).isEqualTo(before);
  }

  /**
   * After mv, the versions keep the name they were pushed under: rm of the head still moves it back to its parent
   * (it deleted the head, as if the model started there), and rm of the model is still refused while another model
   * derives from it (the guard looked for versions of the new name only, found none, and removed the model).
   */
  @Test
  void rmAfterMvMovesTheHeadBackAndKeepsTheDerivedModelsGuard() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a", 1), "base");
    String v2 = cli.push(model("b", 2), "base");
    cli.push(model("c", 3), "student", "--derived-from", "base@" + v1, "--derivation", "distill");
    cli.run("mv", "base", "base2").ok();
    Map<String, String> before = cli.state();
    cli.run("rm", "base2").exits(1).oneLineError("model 'base2' has versions that student derive from");
    assertThat(cli.state()).isEqualTo(before);
    cli.run("rm", "base2@" + v2).ok();
    assertThat(cli.run("log", "base2", "--json").ok().json().get(0).get("version").asText())
        .as("the head moved back to its parent").isEqualTo(v1);
  }

  private static List<String> ids(JsonNode arr) {
    List<String> out = new ArrayList<>();
    arr.forEach(n -> out.add(n.get("version").asText()));
    return out;
  }
}
