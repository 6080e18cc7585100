package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ferry verify --delete-damaged}: deletes the objects whose bytes fail their own id and says what they held and
 * how to restore them; a push of the same files then restores them. Nothing else is ever deleted.
 */
class VerifyDeleteDamagedTest {
  @TempDir Path tmp;

  private Cli cli;
  private Path dir;

  @BeforeEach
  void model() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    dir = tmp.resolve("m");
    ModelGenerator.writeHfModel(dir, List.of(t("big", DType.F32, 7, 256, 512), t("norm", DType.F32, 8, 64)),
        64 << 20);
    cli.push(dir, "tiny", "--codec", "none");
  }

  private static void flip(Path file, long at) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.seek(at);
      int b = raf.read();
      raf.seek(at);
      raf.write(b ^ 0x40);
    }
  }

  private Path biggestObject() throws IOException {
    return cli.objects().stream().max(Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
  }

  @Test
  void aDamagedChunkIsDeletedThenAPushOfTheSameFilesRestoresIt() throws IOException {
    Path obj = biggestObject();
    flip(obj, Files.size(obj) / 2);
    cli.run("push", dir.toString(), "tiny").ok(); // up to date: the damaged chunk stays
    cli.run("verify").exits(3);

    Cli.Result r = cli.run("verify", "--delete-damaged").exits(3);
    String id = obj.getParent().getFileName().toString() + obj.getFileName();
    assertThat(r.out()).contains("deleted chunk " + id).contains("tiny@").contains("tensor 'big'")
        .contains("deleted 1 damaged object");
    assertThat(r.err()).contains("to restore what was deleted").contains("ferry push").contains("ferry copy tiny@");
    assertThat(obj).doesNotExist();
    assertThat(cli.run("verify", "--delete-damaged").exits(3).out()).as("a missing object is not damaged")
        .contains("deleted 0 damaged objects");

    assertThat(cli.run("push", dir.toString(), "tiny").ok().err()).contains("up to date")
        .contains("stored 1 chunk the store lacked");
    cli.run("verify").ok();
    Path out = tmp.resolve("out");
    cli.run("pull", "tiny", out.toString(), "--verify").ok();
    Cli.assertSameTree(dir, out);
  }

  @Test
  void aHealthyStoreIsLeftExactlyAsItWas() {
    Map<String, String> before = cli.state();
    assertThat(cli.run("verify", "--delete-damaged").ok().out()).startsWith("ok: ");
    JsonNode j = cli.run("verify", "--delete-damaged", "--json").ok().json();
    assertThat(j.get("deleted")).isEmpty();
    assertThat(j.get("kept")).isEmpty();
    assertThat(cli.state()).isEqualTo(before);
  }

  @Test
  void theSummaryCountsInTheSingularWhenThereIsOne() throws IOException {
    Cli one = new Cli(tmp.resolve("one")).init();
    Path file = tmp.resolve("notes.txt");
    Files.writeString(file, "one small file, one chunk");
    one.push(file, "n");
    assertThat(one.run("verify").ok().line()).isEqualTo("ok: 1 version, 1 chunk, 25 B checked");
    assertThat(cli.run("verify").ok().line()).matches("ok: 1 version, [0-9]+ chunks, .* checked");
  }

  @Test
  void aDirectoryHoldingFilesInAnObjectsPlaceIsKeptAndAnEmptyOneDeleted() throws IOException {
    Path obj = biggestObject();
    Files.delete(obj);
    Files.createDirectory(obj);
    Files.writeString(obj.resolve("notes.txt"), "someone's");
    Cli.Result r = cli.run("verify", "--delete-damaged").exits(3);
    assertThat(r.out()).contains("kept chunk").contains("not deleted: a directory holding files is in its place");
    assertThat(obj.resolve("notes.txt")).hasContent("someone's");

    Files.delete(obj.resolve("notes.txt"));
    assertThat(cli.run("verify", "--delete-damaged").exits(3).out()).contains("deleted 1 damaged object");
    assertThat(obj).doesNotExist();
  }

  @Test
  void aDamagedPackIsKeptUnlessAskedThenACopyRestoresIt() throws IOException {
    Cli backup = new Cli(tmp.resolve("backup")).init();
    cli.run("copy", "tiny", "--to", backup.store.toString()).ok();
    Path pack = cli.objects().stream().filter(p -> {
      try {
        byte[] head = new byte[4];
        try (var in = Files.newInputStream(p)) {
          return in.read(head) == 4 && new String(head, java.nio.charset.StandardCharsets.US_ASCII).equals("FRYP");
        }
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }).findFirst().orElseThrow();
    flip(pack, 16 + 64 + 2);

    JsonNode j = cli.run("verify", "--delete-damaged", "--json").exits(3).json();
    assertThat(j.get("deleted")).isEmpty();
    assertThat(j.get("kept")).hasSize(1);
    assertThat(j.get("kept").get(0).get("kind").asText()).isEqualTo("pack");
    assertThat(j.get("kept").get(0).get("reason").asText()).contains("--delete-damaged-packs");
    assertThat(pack).exists();

    j = cli.run("verify", "--delete-damaged-packs", "--json").exits(3).json();
    assertThat(j.get("deleted")).hasSize(1);
    assertThat(j.get("restore").toString()).contains("pack comes back only by copy");
    assertThat(j.get("repair").isNull()).as("restore says what to do, not a repair line to delete it: %s", j)
        .isTrue();
    assertThat(pack).doesNotExist();
    backup.run("copy", "tiny", "--to", cli.store.toString()).ok();
    cli.run("verify").ok();
    Path out = tmp.resolve("out");
    cli.run("pull", "tiny", out.toString(), "--verify").ok();
    Cli.assertSameTree(dir, out);
  }
}
