package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.repo.Repository;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.TestRandom;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** A damaged store: pull and verify exit 3, name the object and where it is, and leave no partial files. */
class CorruptionTest {
  @RegisterExtension final TestRandom random = new TestRandom();

  @TempDir Path tmp;

  private Cli cli;
  private Path src;

  @BeforeEach
  void store() throws IOException {
    cli = new Cli(tmp.resolve("store")).init();
    src = tmp.resolve("src");
    ModelGenerator.writeHfModel(src, ModelGenerator.transformer(3 << 20, DType.BF16, random.seed()), 1 << 20);
    Files2.write(src.resolve("sub/notes.txt"), "hello".getBytes());
    cli.push(src, "m:prod", "--codec", "none");
  }

  private static String idOf(Path object) {
    return object.getParent().getFileName().toString() + object.getFileName();
  }

  /** The biggest object: a tensor chunk stored on its own. */
  private Path bigChunk() throws IOException {
    return cli.objects().stream().max(Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
  }

  private Path pack() throws IOException {
    try (Repository repo = Ferry.open(cli.store.toString())) {
      List<ChunkId> packs = repo.resolve("m").version().packs();
      assertThat(packs).isNotEmpty();
      String hex = packs.get(0).hex();
      return cli.store.resolve("objects").resolve(hex.substring(0, 2)).resolve(hex.substring(2));
    }
  }

  private void assertPullFails(String... fragments) throws IOException {
    Path out = tmp.resolve("out");
    cli.run("pull", "m:prod", out.toString()).exits(3).oneLineError(fragments);
    assertThat(Cli.state(out)).as("files left in the destination after a failed pull").isEmpty();
    assertThat(out).as("a failed pull removes the directories it created").doesNotExist();
    Path out2 = tmp.resolve("out2");
    cli.run("pull", "m:prod", out2.toString(), "--verify").exits(3).oneLineError(fragments);
    assertThat(Cli.state(out2)).isEmpty();
    cli.run("verify").exits(3);
    cli.run("verify", "m:prod").exits(3);
    Cli.Result v = cli.run("verify", "--json").exits(3);
    assertThat(v.json().get("ok").asBoolean()).isFalse();
    assertThat(v.json().get("errors").toString()).contains(fragments);
  }

  @Test
  void flippedByteInAChunk() throws IOException {
    Path obj = bigChunk();
    long len = Files.size(obj);
    long at = 64 + (long) (random.random().nextDouble() * (len - 64));
    try (RandomAccessFile f = new RandomAccessFile(obj.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x01);
    }
    assertPullFails(idOf(obj), "corrupt");
    // the object is named with where it is
    assertThat(cli.run("pull", "m:prod", tmp.resolve("o3").toString()).err()).contains(cli.store.getFileName()
        .toString());
  }

  /**
   * A pull or a cat that meets a damaged or missing chunk names the file, the byte range and the tensor it holds, not
   * only the object, and points to verify (which checks the rest and says how to repair).
   */
  /**
   * A copy's damaged object is in the source, whose verify the hint names; a copy {@code --verify} that finds one in
   * the target names the target's verify, and is not given the source's as well.
   */
  @Test
  void aCopyPointsToTheVerifyOfTheStoreThatHoldsTheDamage() throws IOException {
    Cli backup = new Cli(tmp.resolve("backup")).init();
    cli.run("copy", "m:prod", "--to", backup.store.toString()).ok();
    Path inBackup = backup.objects().stream().max(Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
    byte[] bad = Files.readAllBytes(inBackup);
    bad[bad.length / 2] ^= 0x01;
    Files.write(inBackup, bad);
    Files2.write(src.resolve("sub/notes.txt"), "hello again".getBytes());
    cli.push(src, "m:prod", "--codec", "none");
    String err = cli.run("copy", "m:prod", "--to", backup.store.toString(), "--verify").exits(3).err();
    assertThat(err).contains("ferry verify --store file:").doesNotContain("run 'ferry verify");

    Path p = pack();
    byte[] packBytes = Files.readAllBytes(p);
    packBytes[16 + 64 + 2] ^= 0x01; // the payload of the pack's first frame
    Files.write(p, packBytes);
    cli.run("copy", "m:prod", "--to", tmp.resolve("other").toString()).exits(3)
        .oneLineError(idOf(p), "run 'ferry verify m:prod --store " + cli.store + "' to check every object");
  }

  /**
   * The hint names the store the command was given (the test's commands all give {@code --store}): without it, the
   * verify it advised checked the default store, not the damaged one.
   */
  @Test
  void aDamagedChunkIsNamedByItsFileAndTensorAndTheErrorPointsToVerify() throws IOException {
    Path obj = bigChunk();
    String file = null;
    String tensor = null;
    try (Repository repo = Ferry.open(cli.store.toString())) {
      for (io.ferry.version.FileEntry f : repo.snapshot(repo.resolve("m:prod")).files()) {
        long[] offsets = f.chunkOffsets();
        for (int i = 0; i < f.chunks().size(); i++) {
          if (f.chunks().get(i).id().hex().equals(idOf(obj))) {
            file = f.path();
            for (io.ferry.format.TensorInfo t : f.tensors()) {
              if (f.dataStart() + t.begin() == offsets[i]) {
                tensor = t.name();
              }
            }
          }
        }
      }
    }
    assertThat(tensor).as("the tensor the biggest chunk holds").isNotNull();
    byte[] intact = Files.readAllBytes(obj);
    byte[] bad = intact.clone();
    bad[bad.length / 2] ^= 0x01;
    Files.write(obj, bad);
    String[] said = {file + " bytes [", "(tensor '" + tensor + "')", idOf(obj), "corrupt",
        "run 'ferry verify m:prod --store " + cli.store + "' to check every object"};
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).exits(3).oneLineError(said);
    assertThat(tmp.resolve("out")).doesNotExist();
    cli.run("cat", "m:prod//" + file).exits(3).oneLineError(said);
    Files.delete(obj);
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).exits(3).oneLineError(file + " bytes [",
        "(tensor '" + tensor + "')", idOf(obj), "missing", "run 'ferry verify m:prod --store " + cli.store + "'");
    // verify itself says how to repair, not to run verify
    assertThat(cli.run("verify", "m:prod").exits(3).err()).doesNotContain("run 'ferry verify");
  }

  /** A pack replaced by a fifo or a directory is named as what it is (a fifo read as "a pack of 0 bytes"). */
  @Test
  void aPackThatIsNotAFileIsNamedAsWhatItIs() throws Exception {
    Path pack = pack();
    Files.delete(pack);
    Process p = new ProcessBuilder("mkfifo", pack.toString()).inheritIO().start();
    assertThat(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).exits(3)
        .oneLineError(idOf(pack), pack.toString(), "is not a regular file (a fifo, socket or device)");
    Files.delete(pack);
    Files.createDirectory(pack);
    cli.run("cat", "m:prod//sub/notes.txt").exits(3)
        .oneLineError(idOf(pack), pack.toString(), "is not a regular file (a directory)");
  }

  /**
   * A push that needs a chunk whose name a fifo or a directory holds names that as damage (exit 3). The store lacked
   * the chunk, yet could not store it under the taken name, and the push tried three times and blamed a concurrent
   * gc (exit 4).
   */
  @Test
  void aPushOfAChunkWhoseNameIsTakenByAFifoOrADirectoryNamesIt() throws Exception {
    Path obj = bigChunk();
    Files.delete(obj);
    Process p = new ProcessBuilder("mkfifo", obj.toString()).inheritIO().start();
    assertThat(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();
    List<Path> before = cli.objects();
    cli.run("push", src.toString(), "other").exits(3)
        .oneLineError(idOf(obj), obj.toString(), "is not a regular file (a fifo, socket or device)");
    Files.delete(obj);
    Files.createDirectory(obj);
    cli.run("push", src.toString(), "other").exits(3)
        .oneLineError(idOf(obj), obj.toString(), "is not a regular file (a directory)");
    assertThat(cli.objects()).as("objects after the failed pushes").isEqualTo(before);
    assertThat(cli.run("ls").ok().out()).doesNotContain("other");
  }

  @Test
  void deletedObject() throws IOException {
    Path obj = bigChunk();
    Files.delete(obj);
    assertPullFails(idOf(obj), "missing");
  }

  @Test
  void truncatedPack() throws IOException {
    Path pack = pack();
    try (RandomAccessFile f = new RandomAccessFile(pack.toFile(), "rw")) {
      f.setLength(f.length() / 2);
    }
    assertPullFails(idOf(pack));
  }

  /**
   * A flipped byte in a pack's header or in its footer's reserved field, which no frame or index checksum covers:
   * verify of the store and of the version exits 3 naming the pack, and copy refuses to carry the pack to another
   * store (they said ok and copied it). The failed copy removes what it wrote before it stopped: the target is left
   * as it was.
   */
  @Test
  void flippedByteInAPackHeaderOrReservedFooterField() throws IOException {
    Path pack = pack();
    byte[] intact = Files.readAllBytes(pack);
    for (int at : new int[] {0, 4, 9, 15, intact.length - 8}) {
      byte[] bad = intact.clone();
      bad[at] ^= 0x01;
      Files.write(pack, bad);
      cli.run("verify").exits(3);
      assertThat(cli.run("verify", "m:prod").exits(3).err()).contains(idOf(pack));
      Cli target = new Cli(tmp.resolve("target-" + at)).init();
      Map<String, String> before = target.state();
      cli.run("copy", "m:prod", "--to", target.store.toString()).exits(3).oneLineError(idOf(pack));
      // the damaged pack is not carried over, and nothing the copy sent before it failed stays
      assertThat(target.store.resolve("objects").resolve(idOf(pack).substring(0, 2))
          .resolve(idOf(pack).substring(2))).as("byte %d", at).doesNotExist();
      assertThat(target.state()).as("target after the failed copy, byte %d", at).isEqualTo(before);
    }
    Files.write(pack, intact);
    cli.run("verify").ok();
  }

  @Test
  void flippedByteInAPack() throws IOException {
    Path pack = pack();
    try (RandomAccessFile f = new RandomAccessFile(pack.toFile(), "rw")) {
      long at = 40 + (long) (random.random().nextDouble() * (f.length() / 2));
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x80);
    }
    Path out = tmp.resolve("out");
    cli.run("pull", "m:prod", out.toString()).exits(3).oneLineError(idOf(pack));
    assertThat(Cli.state(out)).isEmpty();
    cli.run("verify").exits(3);
  }

  @Test
  void failedPullLeavesExistingFilesAlone() throws IOException {
    Path out = tmp.resolve("out");
    Files2.write(out.resolve("config.json"), "mine".getBytes());
    Files.delete(bigChunk());
    // refused before reading anything: the user's config.json is not the version's
    cli.run("pull", "m:prod", out.toString()).exits(1).oneLineError("config.json", "--merge");
    assertThat(Cli.state(out)).containsOnlyKeys("config.json");
    cli.run("pull", "m:prod", out.toString(), "--merge").exits(3);
    assertThat(Cli.state(out)).containsOnlyKeys("config.json");
    assertThat(out.resolve("config.json")).hasContent("mine");
  }

  /**
   * A small chunk two models pushed separately sits in two packs. With either copy damaged, store-wide verify must
   * fail as verify and pull of the model that reads it do (it used to check each chunk id once, so one copy went
   * unchecked and verify said ok).
   */
  @Test
  void damagedCopyOfASmallChunkSharedByTwoModels() throws IOException {
    byte[] shared = "{\"shared\": true}".getBytes();
    for (String model : List.of("alpha", "beta")) {
      Path dir = tmp.resolve("src-" + model);
      Files2.write(dir.resolve("shared.json"), shared);
      Files2.write(dir.resolve(model + ".txt"), model.getBytes());
      cli.push(dir, model);
      // as if alpha had been pushed before the store-wide small-chunk index: beta packs a copy of its own
      Path index = cli.store.resolve("records").resolve("dedup");
      if (Files.exists(index)) {
        try (java.util.stream.Stream<Path> s = Files.walk(index)) {
          for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
            Files.delete(p);
          }
        }
      }
    }
    ChunkId chunk = ChunkId.of(shared);
    for (String damaged : List.of("alpha", "beta")) {
      long at;
      Path file;
      try (Repository repo = Ferry.open(cli.store.toString())) {
        ChunkId pack = repo.resolve(damaged).version().packs().get(0);
        at = repo.objects().packIndex(pack).entries().get(chunk).offset() + 40;
        file = cli.store.resolve("objects").resolve(pack.hex().substring(0, 2)).resolve(pack.hex().substring(2));
      }
      flip(file, at);
      String other = damaged.equals("alpha") ? "beta" : "alpha";
      cli.run("verify").exits(3);
      assertThat(cli.run("verify", "--json").exits(3).json().get("errors").toString()).contains(chunk.hex())
          .contains(idOf(file));
      cli.run("verify", damaged).exits(3);
      cli.run("pull", damaged, tmp.resolve("bad-" + damaged).toString()).exits(3).oneLineError(idOf(file));
      cli.run("verify", other).ok();
      cli.run("pull", other, tmp.resolve("good-" + damaged + "-" + other).toString()).ok();
      flip(file, at);
      cli.run("verify").ok();
    }
  }

  private static void flip(Path file, long at) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x01);
    }
  }

  @Test
  void aChangedDigitInAnOlderRefLogEntryIsAnIntegrityError() throws IOException {
    Files2.write(src.resolve("sub/notes.txt"), "hello again".getBytes());
    cli.push(src, "m:prod", "--codec", "none");
    cli.run("verify").ok();
    Path log = cli.store.resolve("refs/m/tags/prod.log");
    byte[] all = Files.readAllBytes(log);
    int at = new String(all, java.nio.charset.StandardCharsets.UTF_8).indexOf("\"new\":\"") + 7;
    all[at] = (byte) (all[at] == '0' ? '1' : '0');
    Files.write(log, all);
    String[] fragments = {"m/tags/prod", cli.store.toString(), "entry 1"};
    // no version is damaged: the repair is the log's, not a copy of the models (which verify said)
    assertThat(cli.run("verify").exits(3).err()).contains("to repair the log of m:prod: restore it from a backup")
        .doesNotContain("copy the models back");
    assertThat(cli.run("verify", "--json").exits(3).json().get("errors").toString()).contains(fragments);
    cli.run("rollback", "m:prod").exits(3).oneLineError(fragments);
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).ok();
    cli.run("log", "m:prod").ok();
  }

  /**
   * A ref whose log is a directory (or a fifo) is left out of ls; ls said "no models", so a model vanished without a
   * word. It still lists the others, warns on stderr naming the ref, and exits 3 as for any damage it names (it
   * exited 0, so a script did not see that a model was missing).
   */
  @Test
  void lsNamesARefWhoseLogIsNotAFile() throws IOException {
    cli.push(src, "other");
    Path log = cli.store.resolve("refs/m/head.log");
    Path saved = tmp.resolve("head.log");
    Files.move(log, saved);
    Files.createDirectory(log);
    Cli.Result r = cli.run("ls").exits(3);
    assertThat(r.out()).contains("other").contains("prod=");
    assertThat(r.err()).contains("ref 'm/head' cannot be read").contains("ferry verify");
    assertThat(cli.run("ls", "--json").exits(3).err()).contains("m/head");
    Files.delete(log);
    Files.move(saved, log);
    assertThat(cli.run("ls").ok().err()).isEmpty();
  }

  /**
   * A damaged entry in one model's ref log made ls fail for the whole store, listing nothing. The other models are
   * listed; the damaged ref is named on stderr, and ls exits 3 as for a damaged version (it exited 0, so a script saw
   * no damage); verify still exits 3.
   */
  @Test
  void lsListsTheOtherModelsWhenOneRefLogIsDamaged() throws IOException {
    cli.push(src, "other");
    Path log = cli.store.resolve("refs/m/head.log");
    byte[] all = Files.readAllBytes(log);
    int at = new String(all, java.nio.charset.StandardCharsets.UTF_8).indexOf("\"new\":\"") + 7;
    all[at] = (byte) (all[at] == '0' ? '1' : '0');
    Files.write(log, all);
    Cli.Result r = cli.run("ls").exits(3);
    assertThat(r.out()).contains("other").contains("prod=");
    assertThat(r.err()).contains("ref 'm/head' is not listed: log of ref 'm/head'").contains("entry 1")
        .contains(cli.store.toString()).contains("ferry verify");
    Cli.Result j = cli.run("ls", "--json").exits(3);
    assertThat(j.json().toString()).contains("\"other\"");
    assertThat(j.err()).contains("m/head");
    cli.run("verify").exits(3);
  }

  /**
   * A damaged log of one tag failed every new model's push and every new tag of its model ("log of ref 'm/tags/prod'
   * ... is damaged"), though those read nothing of that ref: the checks of a new name read every name. The damaged
   * ref's name counts as taken (a case twin of it is still refused); reading the ref itself still fails, exit 3.
   */
  @Test
  void aDamagedTagLogHoldsUpNoNewModelOrTag() throws IOException {
    Path log = cli.store.resolve("refs/m/tags/prod.log");
    byte[] all = Files.readAllBytes(log);
    int at = new String(all, java.nio.charset.StandardCharsets.UTF_8).indexOf("\"new\":\"") + 7;
    all[at] = (byte) (all[at] == '0' ? '1' : '0');
    Files.write(log, all);
    cli.push(src, "other");
    Files2.write(src.resolve("sub/notes.txt"), "a new head".getBytes());
    cli.push(src, "m");
    cli.run("tag", "m", "candidate").exits(0);
    assertThat(cli.run("tag", "m", "PROD").exits(1).err()).contains("differs only in case");
    assertThat(cli.run("show", "m:prod").exits(3).err()).contains("log of ref 'm/tags/prod'");
    cli.run("verify").exits(3);
  }

  /**
   * A damaged (or truncated, or missing) head version made ls fail for the whole store, naming only the object. Every
   * model is listed, the damaged one without size or count, a warning names it and the object and points to verify,
   * and ls exits 3 so that scripts see the damage; {@code --json} keeps its schema (null size and count) and writes
   * the warning as a JSON line on stderr.
   */
  @Test
  void lsListsEveryModelAndNamesADamagedVersion() throws IOException {
    cli.push(src, "other:prod");
    String version;
    try (Repository repo = Ferry.open(cli.store.toString())) {
      version = repo.resolve("m:prod").id().hex();
    }
    Path file = objectFile(ChunkId.parse(version));
    byte[] good = Files.readAllBytes(file);
    byte[] flipped = good.clone();
    flipped[flipped.length / 2] ^= 0x40;
    for (byte[] damage : List.of(flipped, java.util.Arrays.copyOf(good, 20))) {
      Files.write(file, damage);
      Cli.Result r = cli.run("ls").exits(3);
      assertThat(r.out()).contains("other")
          // the tags' ids as long as the head's
          .containsPattern("(?m)^m +" + version.substring(0, 12) + " +\\? +\\?  prod=" + version.substring(0, 12)
              + "$");
      assertThat(r.err()).contains("warning").contains("model 'm'").contains(version).contains(cli.store.toString())
          .contains("run 'ferry verify --store " + cli.store + "' for details");
      Cli.Result j = cli.run("ls", "--json").exits(3);
      com.fasterxml.jackson.databind.JsonNode ls = j.json();
      assertThat(ls).hasSize(2);
      assertThat(ls.get(0).get("model").asText()).isEqualTo("m");
      assertThat(ls.get(0).get("head").asText()).isEqualTo(version);
      assertThat(ls.get(0).get("logicalBytes").isNull()).isTrue();
      assertThat(ls.get(0).get("versionCount").isNull()).isTrue();
      assertThat(ls.get(0).get("tags").get("prod").asText()).isEqualTo(version);
      assertThat(ls.get(1).get("model").asText()).isEqualTo("other");
      assertThat(ls.get(1).get("versionCount").asLong()).isEqualTo(1);
      assertThat(j.err().strip()).startsWith("{\"kind\":\"warning\"").contains(version).doesNotContain("\n");
    }
    Files.delete(file);
    assertThat(cli.run("ls").exits(3).err()).contains(version).contains("missing");
    Files.write(file, good);
    assertThat(cli.run("ls").ok().err()).isEmpty();
  }

  private Path objectFile(ChunkId id) {
    return cli.store.resolve("objects").resolve(id.hex().substring(0, 2)).resolve(id.hex().substring(2));
  }

  /** Two loose chunks of the same length trade places: a plain pull and cat must notice, not only --verify. */
  @Test
  void swappedLooseChunksFailAPlainPull() throws IOException {
    Path[] pair = null;
    List<Path> objects = cli.objects();
    for (int i = 0; i < objects.size() && pair == null; i++) {
      for (int j = i + 1; j < objects.size(); j++) {
        Path a = objects.get(i);
        Path b = objects.get(j);
        if (Files.size(a) == Files.size(b) && Files.size(a) > 256 * 1024) {
          pair = new Path[] {a, b};
          break;
        }
      }
    }
    assertThat(pair).as("two loose chunks of one length").isNotNull();
    byte[] a = Files.readAllBytes(pair[0]);
    Files.write(pair[0], Files.readAllBytes(pair[1]));
    Files.write(pair[1], a);
    Path out = tmp.resolve("out");
    Cli.Result r = cli.run("pull", "m:prod", out.toString()).exits(3).oneLineError("corrupt", "holds chunk");
    assertThat(r.err()).containsAnyOf(idOf(pair[0]), idOf(pair[1]));
    assertThat(out).doesNotExist();
    String file = fileHolding(ChunkId.parse(idOf(pair[0])));
    cli.run("cat", "m:prod//" + file).exits(3).oneLineError("holds chunk");
    cli.run("verify").exits(3);
  }

  /** The path of a file of m:prod with the chunk. */
  private String fileHolding(ChunkId chunk) throws IOException {
    try (Repository repo = Ferry.open(cli.store.toString())) {
      for (io.ferry.version.FileEntry f : repo.snapshot(repo.resolve("m:prod")).files()) {
        if (f.chunks().stream().anyMatch(c -> c.id().equals(chunk))) {
          return f.path();
        }
      }
    }
    throw new AssertionError("no file holds " + chunk);
  }

  /** Two frames of one length trade places inside a pack (the index, and its CRC, unchanged). */
  @Test
  void swappedFramesInsideAPackFailAPlainPull() throws IOException {
    Path pack = pack();
    List<io.ferry.pack.PackIndex.Entry> pair;
    try (Repository repo = Ferry.open(cli.store.toString())) {
      io.ferry.pack.PackIndex idx = repo.objects().packIndex(ChunkId.parse(idOf(pack)));
      pair = idx.entries().values().stream()
          .collect(java.util.stream.Collectors.groupingBy(io.ferry.pack.PackIndex.Entry::length)).values().stream()
          .filter(l -> l.size() > 1).findFirst().orElseThrow(() -> new AssertionError("two frames of one length"));
    }
    byte[] bytes = Files.readAllBytes(pack);
    io.ferry.pack.PackIndex.Entry x = pair.get(0);
    io.ferry.pack.PackIndex.Entry y = pair.get(1);
    byte[] fx = java.util.Arrays.copyOfRange(bytes, (int) x.offset(), (int) x.offset() + x.length());
    System.arraycopy(bytes, (int) y.offset(), bytes, (int) x.offset(), y.length());
    System.arraycopy(fx, 0, bytes, (int) y.offset(), fx.length);
    Files.write(pack, bytes);
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).exits(3).oneLineError(idOf(pack), "holds chunk");
    assertThat(tmp.resolve("out")).doesNotExist();
    cli.run("verify").exits(3);
  }

  /** A frame of another pack (another model's small chunk of the same length) copied over one in this pack. */
  @Test
  void frameFromAnotherPackFailsAPlainPull() throws IOException {
    Path other = tmp.resolve("other");
    ModelGenerator.writeHfModel(other, ModelGenerator.transformer(3 << 20, DType.BF16, random.seed() + 1), 1 << 20);
    cli.push(other, "n", "--codec", "none");
    Path pack = pack();
    io.ferry.pack.PackIndex.Entry target;
    io.ferry.pack.PackIndex.Entry donor = null;
    ChunkId otherPack;
    try (Repository repo = Ferry.open(cli.store.toString())) {
      io.ferry.pack.PackIndex mine = repo.objects().packIndex(ChunkId.parse(idOf(pack)));
      otherPack = repo.resolve("n").version().packs().get(0);
      io.ferry.pack.PackIndex theirs = repo.objects().packIndex(otherPack);
      // n may reuse small chunks of m's pack (the store-wide index): damage only a chunk n does not use
      java.util.Set<ChunkId> usedByN = new java.util.HashSet<>();
      for (io.ferry.version.FileEntry f : repo.snapshot(repo.resolve("n")).files()) {
        f.chunks().forEach(c -> usedByN.add(c.id()));
      }
      target = null;
      for (var e : mine.entries().entrySet()) {
        for (var f : theirs.entries().entrySet()) {
          if (!e.getKey().equals(f.getKey()) && e.getValue().length() == f.getValue().length()
              && !usedByN.contains(e.getKey())) {
            target = e.getValue();
            donor = f.getValue();
          }
        }
      }
      assertThat(target).as("frames of one length in both packs").isNotNull();
    }
    byte[] mineBytes = Files.readAllBytes(pack);
    byte[] theirBytes = Files.readAllBytes(objectFile(otherPack));
    System.arraycopy(theirBytes, (int) donor.offset(), mineBytes, (int) target.offset(), donor.length());
    Files.write(pack, mineBytes);
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).exits(3).oneLineError(idOf(pack), "holds chunk");
    cli.run("pull", "n", tmp.resolve("out-n").toString()).ok();
  }

  /** An emptied or truncated object of any kind is an integrity error (exit 3), never a plain failure. */
  @Test
  void emptiedOrTruncatedObjectsAreIntegrityErrors() throws IOException {
    ChunkId version;
    ChunkId snapshot;
    try (Repository repo = Ferry.open(cli.store.toString())) {
      version = repo.resolve("m:prod").id();
      snapshot = repo.resolve("m:prod").version().snapshot();
    }
    Path chunk = bigChunk();
    for (Path obj : List.of(chunk, pack(), objectFile(snapshot), objectFile(version))) {
      byte[] saved = Files.readAllBytes(obj);
      for (int length : new int[] {0, 20, 40, saved.length - 1}) {
        Files.write(obj, java.util.Arrays.copyOf(saved, length));
        String what = obj.getFileName() + " cut to " + length;
        assertThat(cli.run("pull", "m:prod", tmp.resolve("out").toString()).code()).as(what).isEqualTo(3);
        assertThat(tmp.resolve("out")).as(what).doesNotExist();
        assertThat(cli.run("verify").code()).as(what).isEqualTo(3);
      }
      Files.write(obj, saved);
      cli.run("verify").ok();
    }
    byte[] savedVersion = Files.readAllBytes(objectFile(version));
    Files.write(objectFile(version), new byte[0]);
    cli.run("show", "m:prod").exits(3).oneLineError(version.hex());
    cli.run("log", "m:prod").exits(3);
    Files.write(objectFile(version), savedVersion);
    Files.write(chunk, new byte[0]);
    cli.run("cat", "m:prod//" + fileHolding(ChunkId.parse(idOf(chunk)))).exits(3).oneLineError(idOf(chunk));
  }

  /**
   * A damaged store marker is damage (exit 3, kind integrity): one line naming the store, the file and the defect
   * (where its JSON breaks, not the parser's notes), and the store is left exactly as it was. It exited 1, as bad
   * input, so a script could not tell a damaged store from a mistyped ref. A marker of another format version stays
   * exit 1: the store is not damaged, this Ferry is too old for it.
   */
  @Test
  void damagedStoreMarkerIsNamedWithWhereItBreaks() throws IOException {
    Path marker = cli.store.resolve("ferry-store.json");
    Files.write(marker, "{\"format\": \"ferry-store\", \"version\": "
        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
    Map<String, String> before = Cli.state(cli.store);
    String err = cli.run("ls").exits(3).oneLineError(cli.store.toString(), "damaged", "ferry-store.json",
        "is not valid JSON", "at line 1, column").err();
    assertThat(err).doesNotContain("REDACTED").doesNotContain("Source:");
    assertThat(cli.run("ls", "--json").exits(3).err()).contains("\"kind\":\"integrity\"");
    assertThat(Cli.state(cli.store)).as("the store after ls refused its marker").isEqualTo(before);
    Files.write(marker, new byte[] {0x7f, 'E', 'L', 'F', 0, 1, 2});
    before = Cli.state(cli.store);
    cli.run("push", src.toString(), "m:prod").exits(3).oneLineError(cli.store.toString(), "ferry-store.json");
    assertThat(Cli.state(cli.store)).as("the store after push refused its marker").isEqualTo(before);
    Files.writeString(marker, "{\"format\": \"ferry-store\", \"version\": \"one\"}");
    before = Cli.state(cli.store);
    cli.run("pull", "m:prod", tmp.resolve("out").toString()).exits(3).oneLineError("ferry-store.json",
        "no store format version");
    assertThat(Cli.state(cli.store)).as("the store after pull refused its marker").isEqualTo(before);
    assertThat(tmp.resolve("out")).doesNotExist();
    Files.writeString(marker, "{\"format\": \"ferry-store\", \"version\": 2}");
    cli.run("ls").exits(1).oneLineError("ferry-store.json", "store format version 2");
  }

  /**
   * A store whose marker went missing (a copy that left it out) is damage saying what the marker holds, so that it
   * can be put back: every command called it "not empty and not a Ferry store" (exit 1), as for any directory. A
   * directory with only some of a store's directories (a git repository has objects/ and refs/) is still no store.
   */
  @Test
  void aStoreThatLostItsMarkerIsNamedWithWhatTheMarkerHolds() throws Exception {
    Path marker = cli.store.resolve("ferry-store.json");
    String content = Files.readString(marker);
    Files.delete(marker);
    Map<String, String> before = Cli.state(cli.store);
    // a marker without the lost one's id is a marker to put back: the store then takes a new id (storage-format.md)
    cli.run("ls").exits(3).oneLineError(cli.store.toString(), marker.toString(), "is missing",
        "{\"format\":\"ferry-store\",\"version\":1}");
    cli.run("push", src.toString(), "m:prod").exits(3).oneLineError(marker.toString(), "is missing");
    assertThat(Cli.state(cli.store)).isEqualTo(before);
    Files.writeString(marker, content);
    cli.run("ls").ok();
    Path git = Files.createDirectories(tmp.resolve("repo.git"));
    Files.createDirectories(git.resolve("objects/pack"));
    Files.createDirectories(git.resolve("refs/heads"));
    Files.writeString(git.resolve("HEAD"), "ref: refs/heads/main\n");
    Cli.raw("ls", "--store", git.toString()).exits(1).oneLineError(git.toString(), "is not a Ferry store");
  }

  /**
   * A store marker replaced by a fifo or a directory is damage naming it as what it is: the store was said to have
   * no marker at all ("not empty and is not a Ferry store", exit 1).
   */
  @Test
  void aStoreMarkerThatIsNotAFileIsNamedAsWhatItIs() throws Exception {
    Path marker = cli.store.resolve("ferry-store.json");
    Files.delete(marker);
    Process p = new ProcessBuilder("mkfifo", marker.toString()).inheritIO().start();
    assertThat(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();
    cli.run("ls").exits(3).oneLineError(cli.store.toString(), "damaged", marker.toString(),
        "is a fifo, socket or device");
    Files.delete(marker);
    Files.createDirectory(marker);
    cli.run("push", src.toString(), "m:prod").exits(3).oneLineError(marker.toString(), "is a directory");
    assertThat(marker).isEmptyDirectory();
  }

  /**
   * A directory where a tag's log should be: whole-store verify names it (it was skipped), the other refs still list,
   * and ls exits 3 as for any damage it names.
   */
  @Test
  void verifyOfTheStoreNamesARefLogThatIsNotAFile() throws IOException {
    Path log = cli.store.resolve("refs/m/tags/broken.log");
    Files.createDirectories(log);
    assertThat(cli.run("verify").exits(3).err()).contains("to repair the log of m:broken")
        .doesNotContain("copy the models back");
    assertThat(cli.run("verify", "--json").exits(3).json().get("errors").toString())
        .contains("m/tags/broken", log.toString(), "not a regular file");
    assertThat(cli.run("ls").exits(3).out()).contains("m");
  }

  /**
   * Damage to the store's layout (a directory of objects that is a symbolic link, or a file in its place) damages no
   * version: verify's repair line says to do what the line about it says, not to copy the models back.
   */
  @Test
  void verifySaysHowToRepairTheLayoutOfTheStore() throws IOException {
    Path fanOut;
    try (var s = Files.list(cli.store.resolve("objects"))) {
      fanOut = s.filter(p -> p.getFileName().toString().matches("[0-9a-f]{2}")).findFirst().orElseThrow();
    }
    Path moved = tmp.resolve("fan-out");
    Files.move(fanOut, moved);
    Files.createSymbolicLink(fanOut, moved);
    Cli.Result r = cli.run("verify").exits(3);
    assertThat(r.err()).contains(fanOut + " is a symbolic link")
        .contains("to repair the store's layout: move out or replace what the line above about the store's layout"
            + " names").doesNotContain("copy the models back");
    Files.delete(fanOut);
    Files.move(moved, fanOut);
    cli.run("verify").ok();
  }

  @Test
  void cleanStoreVerifies() {
    cli.run("verify").ok();
    Path out = tmp.resolve("out");
    cli.run("pull", "m:prod", out.toString(), "--verify").ok();
    Cli.assertSameTree(src, out);
  }
}
