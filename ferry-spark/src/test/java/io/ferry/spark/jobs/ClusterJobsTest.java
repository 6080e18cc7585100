package io.ferry.spark.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.derive.DeriveResult;
import io.ferry.derive.DeriveSpec;
import io.ferry.derive.Deriver;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.spark.CountingLayer;
import io.ferry.spark.SparkTests;
import io.ferry.spark.store.StoreSpec;
import io.ferry.testkit.ModelGenerator;
import io.ferry.transfer.TransferListener;
import io.ferry.version.FileEntry;
import io.ferry.version.Version;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** verify, copy and derive as Spark jobs on {@code local[2]} over local stores. */
class ClusterJobsTest {
  @TempDir
  static Path tmp;
  static String store;
  static Repository repo;

  @BeforeAll
  static void setUp() throws Exception {
    store = tmp.resolve("store").toUri().toString();
    repo = SparkTests.open(store);
    SparkTests.push(repo, SparkTests.write(tmp, "v1", SparkTests.model(DType.F32, 11)), "jobs:prod");
  }

  @AfterAll
  static void tearDown() throws Exception {
    repo.close();
  }

  @Test
  void verifyChecksEveryChunkOnExecutorsAndReportsACorruptOne() throws Exception {
    Path dir = tmp.resolve("verify-store");
    String uri = dir.toUri().toString();
    ChunkId victim = pushJobs(uri);
    VerifyJob.Result ok = new VerifyJob(SparkTests.spark(), StoreSpec.of(uri), 1 << 20).run(List.of());
    assertThat(ok.ok()).as(ok.errors().toString()).isTrue();
    assertThat(ok.versions()).isEqualTo(1);
    assertThat(ok.tasks()).isGreaterThan(1);
    assertThat(ok.bytes()).isGreaterThan(5L << 20);

    flipAByteOf(dir, victim);
    VerifyJob.Result bad = new VerifyJob(SparkTests.spark(), StoreSpec.of(uri), 1 << 20).run(List.of("jobs"));
    assertThat(bad.errorCount()).isEqualTo(1);
    assertThat(bad.errors().get(0)).contains(victim.hex()).contains("model.safetensors");
    assertThat(bad.chunks()).isEqualTo(ok.chunks() - 1);
  }

  @Test
  void copySendsChunksFromExecutorsAndMovesRefsLast() throws Exception {
    String target = tmp.resolve("copy-target").toUri().toString();
    SparkTests.open(target).close();
    CopyJob.Result r = new CopyJob(SparkTests.spark(), StoreSpec.of(store), StoreSpec.of(target), 1 << 20)
        .run("jobs:prod", true);
    assertThat(r.chunksByExecutors()).isGreaterThan(5);
    assertThat(r.copy().refsMoved()).containsExactlyInAnyOrder("jobs/head", "jobs/tags/prod");
    try (Repository t = SparkTests.open(target)) {
      assertThat(t.resolve("jobs:prod").id()).isEqualTo(repo.resolve("jobs:prod").id());
      assertThat(t.verify("jobs:prod", TransferListener.NONE).ok()).isTrue();
    }
    // again: nothing left to send
    CopyJob.Result again = new CopyJob(SparkTests.spark(), StoreSpec.of(store), StoreSpec.of(target), 1 << 20)
        .run("jobs:prod", false);
    assertThat(again.chunksByExecutors()).isZero();
  }

  @Test
  void clusterDeriveGivesTheSnapshotAndReportOfALocalDerive() throws Exception {
    // a Hugging Face model in shards and an index: one task per shard, the index rewritten by the driver
    Path hf = tmp.resolve("hf");
    ModelGenerator.writeHfModel(hf, SparkTests.model(DType.F32, 13), 2L << 20);
    SparkTests.push(repo, hf, "hfjobs");
    DeriveArgs args = DeriveArgs.quantize(8, 64);
    DeriveJob.Result cluster = new DeriveJob(SparkTests.spark(), StoreSpec.of(store))
        .run("hfjobs", "jobs-int8-spark", args, null);
    DeriveSpec spec = args.spec();
    DeriveResult local = Deriver.of(repo).derive("hfjobs", "jobs-int8-local", spec, null, TransferListener.NONE);
    Version c = repo.resolve("jobs-int8-spark").version();
    Version l = repo.resolve("jobs-int8-local").version();
    assertThat(c.snapshot()).as("snapshot of the cluster derive").isEqualTo(l.snapshot());
    assertThat(c.derivation()).isEqualTo(l.derivation());
    assertThat(c.parents()).hasSize(1).isEqualTo(l.parents());
    assertThat(cluster.derive().report().toJson()).isEqualTo(local.report().toJson());
    long shards = repo.snapshot(repo.resolve("hfjobs")).files().stream()
        .filter(f -> f.path().endsWith(".safetensors")).count();
    assertThat(shards).isGreaterThan(1);
    assertThat(cluster.tasks()).isEqualTo(shards);
    assertThat(repo.snapshot(repo.resolve("jobs-int8-spark")).file("model.safetensors.index.json")).isPresent();
    assertThat(repo.verify("jobs-int8-spark", TransferListener.NONE).ok()).isTrue();
  }

  /**
   * A prune keeps some tensors as they are (here the 1-D norms, which prune leaves alone): a local derive reports them
   * as kept, and so must the cluster job, whose tasks return the metrics.
   */
  @Test
  void aClusterPruneReportsTheTensorsItWroteAsTheyWereAsKeptAsALocalOneDoes() throws Exception {
    DeriveArgs args = new DeriveArgs("prune", null, 0, 0, false, null, 0.001, null, null);
    DeriveJob.Result cluster = new DeriveJob(SparkTests.spark(), StoreSpec.of(store))
        .run("jobs:prod", "jobs-prune-spark", args, null);
    DeriveResult local = Deriver.of(repo).derive("jobs:prod", "jobs-prune-local", args.spec(), null,
        TransferListener.NONE);
    assertThat(local.report().tensors()).filteredOn(t -> t.name().endsWith("norm.weight")).hasSize(3)
        .allSatisfy(t -> assertThat(t.reason()).isEqualTo("1-D, only tensors of 2 or more dimensions are pruned"));
    assertThat(cluster.derive().report().toJson()).isEqualTo(local.report().toJson());
    assertThat(repo.resolve("jobs-prune-spark").version().derivation())
        .isEqualTo(repo.resolve("jobs-prune-local").version().derivation());
  }

  /**
   * A task that fails while it writes (its first put of a new object throws) is run again by Spark (the session's
   * {@code local[2,2]}: two attempts per task). The job still publishes exactly what a local derive publishes, and
   * the failed attempt left nothing visible: the target ref appears only when the driver publishes, and the version
   * verifies.
   */
  @Test
  void aTaskThatFailsWhileWritingIsRetriedAndTheResultIsTheLocalDerive() throws Exception {
    Path hf = tmp.resolve("hf-retry");
    ModelGenerator.writeHfModel(hf, SparkTests.model(DType.F32, 17), 2L << 20);
    SparkTests.push(repo, hf, "retryjobs");
    DeriveArgs args = DeriveArgs.quantize(8, 64);
    String name = "retry-" + System.nanoTime();
    StoreSpec failing = new StoreSpec(store, Map.of("layers", "counting", "counting.name", name,
        "counting.fail-puts", "1"));
    DeriveJob.Result cluster = new DeriveJob(SparkTests.spark(), failing).run("retryjobs", "retry-int8-spark", args,
        null);
    assertThat(CountingLayer.failedPuts(name)).as("puts failed on purpose").isEqualTo(1);
    DeriveResult local = Deriver.of(repo).derive("retryjobs", "retry-int8-local", args.spec(), null,
        TransferListener.NONE);
    assertThat(repo.resolve("retry-int8-spark").version().snapshot()).as("snapshot after a retried task")
        .isEqualTo(repo.resolve("retry-int8-local").version().snapshot());
    assertThat(cluster.derive().report().toJson()).isEqualTo(local.report().toJson());
    assertThat(repo.verify("retry-int8-spark", TransferListener.NONE).ok()).isTrue();

    // every attempt fails: the job fails naming the cause, and publishes nothing
    StoreSpec broken = new StoreSpec(store, Map.of("layers", "counting", "counting.name", name + "-always",
        "counting.fail-puts", "1000000"));
    DeriveArgs other = DeriveArgs.quantize(4, 32);
    assertThatThrownBy(() -> new DeriveJob(SparkTests.spark(), broken).run("retryjobs", "retry-int4-spark", other,
        null)).hasStackTraceContaining("injected failure of a put");
    assertThat(CountingLayer.failedPuts(name + "-always")).as("both attempts of a task failed").isGreaterThan(1);
    assertThat(repo.models()).as("models after the failed job").extracting(m -> m.model())
        .doesNotContain("retry-int4-spark");
  }

  /**
   * The source's tag moves while the tasks run (another user pushes a new version to it): the job publishes what a
   * local derive of the version the tasks derived publishes. It published the derived tensors of that version with
   * the derivation record, and the other files, of the version the tag had moved to.
   */
  @Test
  void aSourceTagMovedWhileTheTasksRunDoesNotChangeWhatIsPublished() throws Exception {
    List<ModelGenerator.Tensor> base = SparkTests.model(DType.F32, 19);
    SparkTests.push(repo, SparkTests.write(tmp, "move-v1", base), "movejobs:prod");
    ChunkId derived = repo.resolve("movejobs:prod").id();
    Path v2 = SparkTests.write(tmp, "move-v2", ModelGenerator.finetune(base, 0.5, 23));
    Files.writeString(v2.resolve("config.json"), "{\"hidden_size\": 1024}\n");
    String name = "move-" + System.nanoTime();
    CountingLayer.beforeFirstPut(name, () -> repo.push(v2, "movejobs:prod",
        io.ferry.repo.PushOptions.builder().message("pushed while a derive runs").build()));
    StoreSpec spec = new StoreSpec(store, Map.of("layers", "counting", "counting.name", name));
    DeriveArgs args = DeriveArgs.quantize(8, 64);
    new DeriveJob(SparkTests.spark(), spec).run("movejobs:prod", "movejobs-int8-spark", args, null);
    assertThat(repo.resolve("movejobs:prod").id()).as("the tag moved during the job").isNotEqualTo(derived);
    Deriver.of(repo).derive("movejobs@" + derived.hex(), "movejobs-int8-local", args.spec(), null,
        TransferListener.NONE);
    Version c = repo.resolve("movejobs-int8-spark").version();
    assertThat(c.derivation().source()).isEqualTo(derived.hex());
    assertThat(c.snapshot()).isEqualTo(repo.resolve("movejobs-int8-local").version().snapshot());
    assertThat(repo.verify("movejobs-int8-spark", TransferListener.NONE).ok()).isTrue();
  }

  /**
   * A derive task ran as many threads as its executor's machine has cores, whatever {@code spark.task.cpus} gave it:
   * an executor running one task per core ran cores x cores threads, each with its buffers. It runs the cores Spark
   * gave the task (one in the tests' session).
   */
  @Test
  void aDeriveTaskRunsTheCoresSparkGaveIt() {
    org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() > 1,
        "a machine of one core runs one thread either way");
    List<Integer> threads = org.apache.spark.api.java.JavaSparkContext.fromSparkContext(
        SparkTests.spark().sparkContext()).parallelize(List.of(1, 2), 2).map(x -> DeriveJob.taskThreads()).collect();
    assertThat(threads).containsExactly(1, 1);
  }

  /**
   * The source's tag moves while the executors copy (another user pushes to it): the target gets the version the job
   * started with, whose chunks the executors sent. The driver's copy named the tag again, so it sent the new version
   * and moved the target's tag to it.
   */
  @Test
  void aSourceTagMovedWhileACopyRunsDoesNotChangeWhatIsCopied() throws Exception {
    List<ModelGenerator.Tensor> base = SparkTests.model(DType.F32, 29);
    SparkTests.push(repo, SparkTests.write(tmp, "copymove-v1", base), "copymove:prod");
    ChunkId first = repo.resolve("copymove:prod").id();
    Path v2 = SparkTests.write(tmp, "copymove-v2", ModelGenerator.finetune(base, 0.5, 31));
    String name = "copymove-" + System.nanoTime();
    CountingLayer.beforeFirstPut(name, () -> repo.push(v2, "copymove:prod",
        io.ferry.repo.PushOptions.builder().message("pushed while a copy runs").build()));
    String target = tmp.resolve("copymove-target").toUri().toString();
    SparkTests.open(target).close();
    StoreSpec to = new StoreSpec(target, Map.of("layers", "counting", "counting.name", name));
    CopyJob.Result r = new CopyJob(SparkTests.spark(), StoreSpec.of(store), to, 1 << 20).run("copymove:prod", false);
    assertThat(repo.resolve("copymove:prod").id()).as("the tag moved during the job").isNotEqualTo(first);
    assertThat(r.copy().version()).isEqualTo(first);
    try (Repository t = SparkTests.open(target)) {
      assertThat(t.resolve("copymove:prod").id()).isEqualTo(first);
      assertThat(t.verify("copymove:prod", TransferListener.NONE).ok()).isTrue();
    }
  }

  @Test
  void theEntryPointRunsAJobAndRefusesBadArguments() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = FerrySparkJobs.run(SparkTests.spark(), new String[] {"verify", "--store", store, "jobs:prod"},
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("errors=0").contains("versions=1");
    err.reset();
    code = FerrySparkJobs.run(SparkTests.spark(), new String[] {"copy", "--from", store, "jobs"},
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("--to");
  }

  private static String[] job(int expected, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = FerrySparkJobs.run(SparkTests.spark(), args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String[] printed = {out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
    assertThat(code).as(String.join(" ", args) + ": " + printed[1]).isEqualTo(expected);
    return printed;
  }

  /** A mistyped option would silently change the job (a verify of other bytes per task, a derive of other groups). */
  @Test
  void anUnknownOptionOrANonNumberIsRefusedNamingTheOption() throws Exception {
    assertThat(job(2, "verify", "--store", store, "--task-byte", "5", "jobs:prod")[1])
        .contains("unknown option --task-byte for verify").contains("--task-bytes");
    assertThat(job(2, "derive", "--store", store, "--method", "quantize", "--group_size", "64", "jobs:prod", "x")[1])
        .contains("unknown option --group_size for derive");
    assertThat(job(2, "copy", "--from", store, "--to", store, "--verfy", "jobs:prod")[1])
        .contains("unknown option --verfy for copy");
    assertThat(job(2, "verify", "--store", store, "--task-bytes", "abc")[1])
        .contains("option --task-bytes 'abc': expected a positive number of bytes");
    assertThat(job(2, "verify", "--store", store, "--task-bytes", "-3")[1])
        .contains("option --task-bytes '-3'");
    assertThat(job(2, "derive", "--store", store, "--method", "quantize", "--bits", "abc", "jobs:prod", "x")[1])
        .contains("option --bits 'abc': expected a whole number");
    assertThat(job(2, "derive", "--store", store, "--method", "prune", "--threshold", "x", "jobs:prod", "x")[1])
        .contains("option --threshold 'x': expected a number");
    assertThat(repo.models()).extracting(m -> m.model()).doesNotContain("x");
  }

  /**
   * An option the derive method does not take was ignored ({@code --bits} of a cast, {@code --to} of a quantize: the
   * job derived something else than asked), and a bad value ({@code --bits 3}) ended with exit 1 and a message that
   * named no option; {@code ferry derive} refuses both as bad arguments.
   */
  @Test
  void aDeriveOptionTheMethodDoesNotTakeOrABadValueIsRefusedNamingTheOption() throws Exception {
    assertThat(job(2, "derive", "--store", store, "--method", "cast", "--to", "bf16", "--bits", "4", "jobs:prod",
        "bad-1")[1]).contains("option --bits is not taken by derive --method cast");
    assertThat(job(2, "derive", "--store", store, "--method", "quantize", "--to", "bf16", "jobs:prod", "bad-2")[1])
        .contains("option --to is not taken by derive --method quantize");
    assertThat(job(2, "derive", "--store", store, "--method", "quantize", "--bits", "3", "jobs:prod", "bad-3")[1])
        .contains("--bits must be 8 or 4, got 3");
    assertThat(job(2, "derive", "--store", store, "--method", "cast", "jobs:prod", "bad-4")[1])
        .contains("option --to is required");
    assertThat(job(2, "derive", "--store", store, "--method", "prune", "--sparsity", "1", "jobs:prod", "bad-5")[1])
        .contains("--sparsity");
    assertThat(repo.models()).extracting(m -> m.model()).noneMatch(m -> m.startsWith("bad-"));
  }

  /** A mistyped store setting was ignored (the job ran against the store without it); the CLI refuses it. */
  @Test
  void anUnknownOrRepeatedStoreSettingIsRefusedNamingIt() {
    assertThat(job(2, "verify", "--store", store, "--store-option", "layer=counting", "jobs:prod")[1])
        .contains("--store-option layer: no store module here reads a setting 'layer'").contains("'layers'");
    assertThat(job(2, "verify", "--store", store, "--store-option", "dfs.replication=2", "--store-option",
        "dfs.replication=3")[1]).contains("--store-option dfs.replication given twice");
    assertThatThrownBy(() -> SparkTests.spark().read().format("ferry").option("store", store)
        .option("store.layer", "counting").load("jobs:prod").count())
        .hasMessageContaining("option 'store.layer': no store module here reads a setting 'layer'");
  }

  /** A failed job printed the exception ({@code io.ferry.error.NotFoundException: ...}), not only what failed. */
  @Test
  void aFailedJobSaysWhatFailedWithoutTheExceptionClass() {
    assertThat(job(1, "verify", "--store", store, "nosuch")[1]).isEqualTo("ferry spark verify: no model 'nosuch' in "
        + store + (store.endsWith("/") ? "" : "/") + System.lineSeparator());
    assertThat(job(1, "verify", "--store", tmp.resolve("absent").toUri().toString())[1])
        .startsWith("ferry spark verify: no Ferry store at").contains("absent").doesNotContain("Exception");
  }

  /**
   * A copy whose executor finds a damaged chunk fails with exit code 1 and one line naming the chunk, the store and
   * the defect. Spark's exception for the failed job is checked and thrown undeclared, so it passed the entry point's
   * handler: the driver ended with Spark's stack trace and never said which job failed.
   */
  @Test
  void aCopyOfADamagedChunkFailsNamingTheChunk() throws Exception {
    Path dir = tmp.resolve("copy-damaged-store");
    String uri = dir.toUri().toString();
    ChunkId victim = pushJobs(uri);
    flipAByteOf(dir, victim);
    String target = tmp.resolve("copy-damaged-target").toUri().toString();
    SparkTests.open(target).close();
    String err = job(1, "copy", "--from", uri, "--to", target, "jobs")[1];
    assertThat(err).startsWith("ferry spark copy: ").contains(victim.hex()).contains("corrupt")
        .doesNotContain("\tat ").hasLineCount(1);
    try (Repository t = SparkTests.open(target)) {
      assertThat(t.models()).as("models in the target after the failed copy").isEmpty();
    }
  }

  /**
   * A copy into a local store that does not exist yet creates it; when the copy then failed (an executor read a
   * damaged chunk), the new, empty store stayed behind, where {@code ferry copy} removes a store it made. The job
   * removes it too; a target store that was there before the job is kept.
   */
  @Test
  void aFailedCopyRemovesTheLocalStoreItCreated() throws Exception {
    Path dir = tmp.resolve("copy-new-target-store");
    String uri = dir.toUri().toString();
    ChunkId victim = pushJobs(uri);
    flipAByteOf(dir, victim);
    Path target = tmp.resolve("copy-new-target");
    assertThat(job(1, "copy", "--from", uri, "--to", target.toUri().toString(), "jobs")[1])
        .startsWith("ferry spark copy: ").contains(victim.hex());
    assertThat(target).doesNotExist();
    Path existing = tmp.resolve("copy-existing-target");
    SparkTests.open(existing.toUri().toString()).close();
    job(1, "copy", "--from", uri, "--to", existing.toUri().toString(), "jobs");
    assertThat(existing).isDirectory();
  }

  /**
   * {@code ferry derive quantize} without {@code --group-size} takes groups of 128; so does the cluster job. It
   * requires {@code --bits}, where the job quantized to 8 bits without it: the job requires it too.
   */
  @Test
  void aQuantizeWithoutGroupSizeUsesTheCliDefault() throws Exception {
    assertThat(job(2, "derive", "--store", store, "--method", "quantize", "jobs:prod", "jobs-no-bits")[1])
        .contains("option --bits is required for derive --method quantize");
    assertThat(repo.models()).extracting(m -> m.model()).doesNotContain("jobs-no-bits");
    String out = job(0, "derive", "--store", store, "--method", "quantize", "--bits", "8", "jobs:prod",
        "jobs-default-q8")[0];
    assertThat(out).contains("version=");
    assertThat(repo.resolve("jobs-default-q8").version().derivation().parameters()).containsEntry("group_size",
        "128");
  }

  /**
   * A cast of a quantized version is dequantized with the quantization of the version it was cast from, on a cluster
   * as on one machine: the same snapshot, compared with the version that was quantized.
   */
  @Test
  void aCastOfAQuantizedVersionIsDequantizedAsOnOneMachine() throws Exception {
    job(0, "derive", "--store", store, "--method", "quantize", "--bits", "8", "jobs:prod", "jobs-cq-q");
    job(0, "derive", "--store", store, "--method", "cast", "--to", "bf16", "jobs-cq-q", "jobs-cq-c");
    job(0, "derive", "--store", store, "--method", "dequantize", "--to", "f32", "jobs-cq-c", "jobs-cq-d");
    DeriveResult local = Deriver.of(repo).derive("jobs-cq-c", "jobs-cq-local", new DeriveSpec.Dequantize(DType.F32),
        null, TransferListener.NONE);
    assertThat(repo.resolve("jobs-cq-d").version().snapshot()).isEqualTo(local.push().version().snapshot());
    assertThat(repo.resolve("jobs-cq-d").version().derivation().parameters())
        .containsEntry("compared_with", repo.resolve("jobs:prod").id().hex());
  }

  /**
   * {@code ferry derive quantize} is asymmetric unless {@code --symmetric} is given; the job was symmetric unless
   * {@code --asymmetric} was, and refused {@code --symmetric}, so the same options derived other versions.
   */
  @Test
  void aQuantizeIsAsymmetricUnlessSymmetricIsGivenAsInTheCli() throws Exception {
    job(0, "derive", "--store", store, "--method", "quantize", "--bits", "8", "jobs:prod", "jobs-q8-asym");
    job(0, "derive", "--store", store, "--method", "quantize", "--bits", "8", "--symmetric", "jobs:prod",
        "jobs-q8-sym");
    assertThat(repo.resolve("jobs-q8-asym").version().derivation().parameters()).containsEntry("symmetric", "false");
    assertThat(repo.resolve("jobs-q8-sym").version().derivation().parameters()).containsEntry("symmetric", "true");
    DeriveResult local = Deriver.of(repo).derive("jobs:prod", "jobs-q8-local", DeriveSpec.Quantize.of(8, 128, false,
        io.ferry.derive.TensorFilter.of(null, null)), null, TransferListener.NONE);
    assertThat(repo.resolve("jobs-q8-asym").version().snapshot()).isEqualTo(local.push().version().snapshot());
    assertThat(job(2, "derive", "--store", store, "--method", "quantize", "--bits", "8", "--symmetric", "--asymmetric",
        "jobs:prod", "jobs-q8-both")[1]).contains("--symmetric and --asymmetric");
  }

  private static Map<String, String> files(Path dir) throws Exception {
    Map<String, String> out = new java.util.TreeMap<>();
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.filter(Files::isRegularFile).toList()) {
        out.put(dir.relativize(p).toString(), java.util.HexFormat.of().formatHex(
            java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p))));
      }
    }
    return out;
  }

  /**
   * Core's copy refuses a head on another history before it sends anything; the job's executors sent the chunks
   * first, so the refused copy left them in the target.
   */
  @Test
  void aCopyRefusedForAHeadOnAnotherHistoryLeavesTheTargetAsItWas() throws Exception {
    Path dir = tmp.resolve("other-history");
    String target = dir.toUri().toString();
    try (Repository t = SparkTests.open(target)) {
      SparkTests.push(t, SparkTests.write(tmp, "unrelated", SparkTests.model(DType.F32, 99)), "jobs");
    }
    Map<String, String> before = files(dir);
    CopyJob job = new CopyJob(SparkTests.spark(), StoreSpec.of(store), StoreSpec.of(target), 1 << 20);
    assertThatThrownBy(() -> job.run("jobs", false)).hasMessageContaining("head of jobs in")
        .hasMessageContaining("not in the history of").hasMessageContaining("nothing was copied");
    assertThat(files(dir)).as("the target's files after the refused copy").isEqualTo(before);
    // a tag's copy leaves the head on its history and moves the tag, as core's copy does
    CopyJob.Result tag = job.run("jobs:prod", false);
    assertThat(tag.copy().refsMoved()).containsExactly("jobs/tags/prod");
  }

  /**
   * Core's copy refuses a model or tag name that differs only in case from one in the target before it sends
   * anything; the job's executors sent the chunks first, so the refused copy left them in the target.
   */
  @Test
  void aCopyRefusedForANameThatDiffersOnlyInCaseSendsNoChunk() throws Exception {
    Path dir = tmp.resolve("case-twin");
    String target = dir.toUri().toString();
    try (Repository t = SparkTests.open(target)) {
      SparkTests.push(t, SparkTests.write(tmp, "case-twin-model", SparkTests.model(DType.F32, 98)), "Jobs");
      SparkTests.push(t, tmp.resolve("case-twin-model"), "jobs2:Prod");
    }
    String jobs2 = tmp.resolve("case-twin-source").toUri().toString();
    try (Repository s = SparkTests.open(jobs2)) {
      SparkTests.push(s, tmp.resolve("v1"), "jobs2:prod");
    }
    long objectsBefore = objects(target);
    Map<String, String> before = files(dir);
    CopyJob model = new CopyJob(SparkTests.spark(), StoreSpec.of(store), StoreSpec.of(target), 1 << 20);
    assertThatThrownBy(() -> model.run("jobs", false)).hasMessageContaining("model 'jobs' differs only in case from"
        + " 'Jobs'");
    CopyJob tag = new CopyJob(SparkTests.spark(), StoreSpec.of(jobs2), StoreSpec.of(target), 1 << 20);
    assertThatThrownBy(() -> tag.run("jobs2:prod", false)).hasMessageContaining("tag 'prod' of 'jobs2' differs only"
        + " in case from its tag 'Prod'");
    assertThat(objects(target)).as("objects in the target after the refused copies").isEqualTo(objectsBefore);
    assertThat(files(dir)).as("the target's files after the refused copies").isEqualTo(before);
  }

  private static long objects(String uri) throws IOException {
    long[] n = {0};
    try (Repository r = SparkTests.open(uri)) {
      r.backend().chunks().list(o -> n[0]++);
    }
    return n[0];
  }

  /** A local derive refuses a bad target before it writes; the job's tasks stored the derived chunks first. */
  @Test
  void aDeriveToABadTargetIsRefusedBeforeAnyTaskStoresAChunk() throws Exception {
    Path dir = tmp.resolve("derive-target-store");
    String uri = dir.toUri().toString();
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, tmp.resolve("v1"), "jobs");
    }
    Map<String, String> before = files(dir);
    for (String bad : List.of("bad name!", "jobs@abcdef12", "jobs//x.json", "jobs~1")) {
      assertThatThrownBy(() -> new DeriveJob(SparkTests.spark(), StoreSpec.of(uri)).run("jobs", bad,
          DeriveArgs.quantize(8, 64), null)).as(bad).hasMessageContaining("target '" + bad + "'");
      assertThat(files(dir)).as("the store after a derive to '" + bad + "'").isEqualTo(before);
    }
  }

  /**
   * A derive whose target differs only in case from a model or tag of the store is refused when the version is
   * published, as a push refuses it; the job's tasks had stored the derived chunks before that.
   */
  @Test
  void aDeriveToANameThatDiffersOnlyInCaseIsRefusedBeforeAnyTaskStoresAChunk() throws Exception {
    Path dir = tmp.resolve("derive-case-store");
    String uri = dir.toUri().toString();
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, tmp.resolve("v1"), "jobs:prod");
    }
    long objectsBefore = objects(uri);
    Map<String, String> before = files(dir);
    assertThatThrownBy(() -> new DeriveJob(SparkTests.spark(), StoreSpec.of(uri)).run("jobs", "JOBS",
        DeriveArgs.quantize(8, 64), null)).hasMessageContaining("model 'JOBS' differs only in case from 'jobs'");
    assertThatThrownBy(() -> new DeriveJob(SparkTests.spark(), StoreSpec.of(uri)).run("jobs", "jobs:PROD",
        DeriveArgs.quantize(8, 64), null)).hasMessageContaining("tag 'PROD' of 'jobs' differs only in case");
    assertThat(objects(uri)).as("objects in the store after the refused derives").isEqualTo(objectsBefore);
    assertThat(files(dir)).as("the store after the refused derives").isEqualTo(before);
  }

  /**
   * ferry copy creates a target store that does not exist yet (not for a ref that names nothing); the job refused it
   * with "no Ferry store at ... (run 'ferry init' or pass --store)".
   */
  @Test
  void aCopyToAStoreThatDoesNotExistYetCreatesIt() throws Exception {
    Path fresh = tmp.resolve("fresh-target");
    String out = job(0, "copy", "--from", store, "--to", fresh.toUri().toString(), "jobs:prod")[0];
    assertThat(out).contains("refs_moved=jobs/head,jobs/tags/prod");
    try (Repository t = SparkTests.open(fresh.toUri().toString())) {
      assertThat(t.resolve("jobs:prod").id()).isEqualTo(repo.resolve("jobs:prod").id());
      assertThat(t.verify("jobs:prod", TransferListener.NONE).ok()).isTrue();
    }
    Path none = tmp.resolve("fresh-target-of-nothing");
    assertThat(job(1, "copy", "--from", store, "--to", none.toUri().toString(), "nosuch")[1])
        .contains("no model 'nosuch'");
    assertThat(none).doesNotExist();
  }

  /** ferry verify reports a damaged snapshot and goes on; the job threw at the first one and reported nothing. */
  @Test
  void verifyReportsADamagedSnapshotAndGoesOnWithTheOtherModels() throws Exception {
    Path dir = tmp.resolve("verify-snapshot-store");
    String uri = dir.toUri().toString();
    ChunkId snapshot;
    ChunkId chunk;
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, tmp.resolve("v1"), "aa");
      SparkTests.push(r, SparkTests.write(tmp, "verify-other", SparkTests.model(DType.F32, 23)), "bb");
      snapshot = r.resolve("aa").version().snapshot();
      FileEntry f = r.snapshot(r.resolve("bb")).file("model.safetensors").orElseThrow();
      chunk = f.chunks().get(f.chunks().size() - 1).id();
    }
    for (ChunkId victim : List.of(snapshot, chunk)) {
      Path object;
      try (var files = Files.walk(dir)) {
        object = files.filter(p -> p.getFileName().toString().equals(victim.hex().substring(2))).findFirst()
            .orElseThrow();
      }
      byte[] b = Files.readAllBytes(object);
      b[b.length - 20] ^= 1;
      object.toFile().setWritable(true);
      Files.write(object, b);
    }
    VerifyJob.Result r = new VerifyJob(SparkTests.spark(), StoreSpec.of(uri), 1 << 20).run(List.of());
    assertThat(r.ok()).isFalse();
    assertThat(r.errorCount()).as(r.errors().toString()).isEqualTo(2);
    assertThat(r.errors()).anySatisfy(e -> assertThat(e).contains("snapshot " + snapshot.shortHex(12))
        .contains("aa@").contains("corrupt"));
    assertThat(r.errors()).anySatisfy(e -> assertThat(e).contains(chunk.hex()).contains("bb@"));
    assertThat(r.chunks()).isPositive();
  }

  /** Pushes model {@code jobs} into the store at {@code uri}; the id of the last chunk of its safetensors file. */
  private static ChunkId pushJobs(String uri) throws IOException {
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, tmp.resolve("v1"), "jobs");
      FileEntry f = r.snapshot(r.resolve("jobs")).file("model.safetensors").orElseThrow();
      return f.chunks().get(f.chunks().size() - 1).id();
    }
  }

  /** Flips a bit in the middle of the stored object {@code id} of the local store in {@code dir}. */
  private static void flipAByteOf(Path dir, ChunkId id) throws IOException {
    Path object;
    try (var files = Files.walk(dir)) {
      object = files.filter(p -> p.getFileName().toString().equals(id.hex().substring(2))).findFirst()
          .orElseThrow();
    }
    byte[] b = Files.readAllBytes(object);
    b[b.length / 2] ^= 1;
    object.toFile().setWritable(true);
    Files.write(object, b);
  }
}
