package io.ferry.spark.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.spark.CountingLayer;
import io.ferry.spark.SparkTests;
import io.ferry.testkit.ModelGenerator;
import io.ferry.version.FileEntry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.DataFrameReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code ferry} data source on {@code local[2]} over a local store: chunks, values, pushdown, metadata tables. */
class FerryDataSourceTest {
  @TempDir
  static Path tmp;
  static String store;
  static Repository repo;
  static List<ModelGenerator.Tensor> base;

  @BeforeAll
  static void setUp() throws Exception {
    store = tmp.resolve("store").toUri().toString();
    repo = SparkTests.open(store);
    base = SparkTests.model(DType.F32, 1);
    SparkTests.push(repo, SparkTests.write(tmp, "v1", base), "tiny:prod");
    List<ModelGenerator.Tensor> tuned = ModelGenerator.finetune(base, 0.25, 7);
    SparkTests.push(repo, SparkTests.write(tmp, "v2", tuned), "tiny");
    SparkTests.push(repo, SparkTests.write(tmp, "bf", SparkTests.model(DType.BF16, 3)), "tinybf");
  }

  @AfterAll
  static void tearDown() throws Exception {
    repo.close();
  }

  private static DataFrameReader ferry() {
    return SparkTests.spark().read().format("ferry").option("store", store);
  }

  @Test
  void everyTensorReadsBackAsItsChunksBytes() throws Exception {
    Dataset<Row> df = ferry().load("tiny:prod");
    List<Row> rows = df.select("tensor", "offset", "length", "bytes", "row_start", "row_end", "dtype", "version")
        .collectAsList();
    try (ModelReader reader = repo.open("tiny:prod")) {
      assertThat(rows).hasSize(reader.tensors().size());
      Map<String, Row> byName = new HashMap<>();
      rows.forEach(r -> byName.put(r.getString(0), r));
      for (ModelReader.Located t : reader.tensors()) {
        Row r = byName.get(t.info().name());
        assertThat(r).as(t.info().name()).isNotNull();
        ByteBuffer want = reader.read(t.info().name());
        assertThat(ByteBuffer.wrap((byte[]) r.get(3))).as(t.info().name()).isEqualTo(want);
        assertThat(r.getLong(4)).isZero();
        assertThat(r.getLong(5)).isEqualTo(t.info().rows());
        assertThat(r.getString(7)).isEqualTo(reader.versionId().hex());
      }
    }
    assertThat(df.rdd().getNumPartitions()).isGreaterThanOrEqualTo(1);
  }

  @Test
  void valuesAreTheDecodedFloatsOfF32AndBf16() throws Exception {
    for (String ref : List.of("tiny:prod", "tinybf")) {
      Row r = ferry().option("values", "true").load(ref).where("tensor = 'model.layers.0.self_attn.q_proj.weight'")
          .select("bytes", "values", "dtype").first();
      byte[] bytes = (byte[]) r.get(0);
      List<Float> values = r.getList(1);
      ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
      boolean bf16 = r.getString(2).equals("BF16");
      assertThat(values).hasSize(bf16 ? bytes.length / 2 : bytes.length / 4);
      for (int i = 0; i < values.size(); i += 97) {
        float want = bf16 ? Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16) : b.getFloat(4 * i);
        assertThat(values.get(i)).as(ref + " element " + i).isEqualTo(want);
      }
    }
  }

  @Test
  void aQueryForOneLayerReadsOnlyThatLayersChunks() throws Exception {
    String name = "pushdown-" + System.nanoTime();
    Dataset<Row> df = ferry().option("store.layers", "counting").option("store.counting.name", name)
        .load("tiny:prod").where("tensor like 'model.layers.1.%' and file = 'model.safetensors'");
    List<Row> rows = df.select("tensor", "bytes").collectAsList();
    Set<ChunkId> layer = new HashSet<>();
    Set<ChunkId> all = new HashSet<>();
    FileEntry f = repo.snapshot(repo.resolve("tiny:prod")).file("model.safetensors").orElseThrow();
    long[] offsets = f.chunkOffsets();
    for (var t : f.tensors()) {
      int i = FileEntry.chunkAt(offsets, f.dataStart() + t.begin());
      all.add(f.chunks().get(i).id());
      if (t.name().startsWith("model.layers.1.")) {
        layer.add(f.chunks().get(i).id());
      }
    }
    assertThat(rows).hasSize(7);
    Set<ChunkId> readTensorChunks = new HashSet<>(CountingLayer.reads(name));
    readTensorChunks.retainAll(all);
    // the small layer norm sits in a pack, read as a range of the pack object: the loose chunks read are the layer's
    Set<ChunkId> expectedLoose = new HashSet<>(layer);
    expectedLoose.retainAll(looseObjects(layer));
    assertThat(readTensorChunks).isEqualTo(expectedLoose);
    assertThat(expectedLoose).hasSize(6);
  }

  private static Set<ChunkId> looseObjects(Set<ChunkId> ids) throws Exception {
    Set<ChunkId> out = new HashSet<>();
    for (ChunkId id : ids) {
      if (repo.backend().chunks().contains(id)) {
        out.add(id);
      }
    }
    return out;
  }

  @Test
  void metadataColumnsAloneReadNoChunk() throws Exception {
    String name = "meta-" + System.nanoTime();
    long n = ferry().option("store.layers", "counting").option("store.counting.name", name).load("tiny:prod")
        .select("tensor", "dtype", "shape", "length").collectAsList().size();
    assertThat(n).isEqualTo(base.size());
    Set<ChunkId> chunks = new HashSet<>();
    repo.snapshot(repo.resolve("tiny:prod")).files().forEach(f -> f.chunks().forEach(c -> chunks.add(c.id())));
    Set<ChunkId> read = new HashSet<>(CountingLayer.reads(name));
    read.retainAll(chunks);
    assertThat(read).as("chunks read for a query of metadata columns only").isEmpty();
  }

  @Test
  void versionsTableAnswersLineageInSql() throws Exception {
    SparkSession spark = SparkTests.spark();
    ferry().option("table", "versions").load("tiny").createOrReplaceTempView("tiny_versions");
    List<Row> rows = spark.sql("select id, seq, size(parents), array_contains(tags, 'tiny:prod'), "
        + "array_contains(tags, 'tiny'), logical_bytes from tiny_versions order by seq").collectAsList();
    assertThat(rows).hasSize(2);
    assertThat(rows.get(0).getString(0)).isEqualTo(repo.resolve("tiny:prod").id().hex());
    assertThat(rows.get(0).getBoolean(3)).isTrue();
    assertThat(rows.get(1).getString(0)).isEqualTo(repo.resolve("tiny").id().hex());
    assertThat(rows.get(1).getInt(2)).isEqualTo(1);
    assertThat(rows.get(1).getBoolean(4)).isTrue();
    assertThat(ferry().option("table", "versions").load("*").where("model = 'tinybf'").count()).isEqualTo(1);
  }

  @Test
  void tensorsTableDiffsTwoVersionsInSql() throws Exception {
    SparkSession spark = SparkTests.spark();
    ferry().option("table", "tensors").load("tiny").createOrReplaceTempView("tiny_tensors");
    String a = repo.resolve("tiny:prod").id().hex();
    String b = repo.resolve("tiny").id().hex();
    long changed = spark.sql("select x.tensor from tiny_tensors x join tiny_tensors y on x.tensor = y.tensor "
        + "where x.version = '" + a + "' and y.version = '" + b + "' and x.content <> y.content").count();
    var diff = repo.diff("tiny:prod", "tiny");
    assertThat(changed).isEqualTo(diff.tensors().size()).isPositive();
  }

  /**
   * An empty tensor holds no bytes, so it uses no chunk and its key is its dtype and shape alone. It listed the chunk
   * of the tensor next to it, and its key changed with that tensor: the diff above called it changed, while ferry
   * diff does not.
   */
  @Test
  void anEmptyTensorUsesNoChunkAndItsKeyDoesNotFollowItsNeighbour() throws Exception {
    List<ModelGenerator.Tensor> v1 = List.of(new ModelGenerator.Tensor("a.weight", DType.F32, new long[] {8, 8}, 1),
        new ModelGenerator.Tensor("b.empty", DType.F32, new long[] {0, 8}, 0),
        new ModelGenerator.Tensor("c.weight", DType.F32, new long[] {8}, 2));
    List<ModelGenerator.Tensor> v2 = List.of(v1.get(0), v1.get(1),
        new ModelGenerator.Tensor("c.weight", DType.F32, new long[] {8}, 3));
    SparkTests.push(repo, SparkTests.write(tmp, "empty-v1", v1), "emptydiff:one");
    SparkTests.push(repo, SparkTests.write(tmp, "empty-v2", v2), "emptydiff");
    ferry().option("table", "tensors").load("emptydiff").createOrReplaceTempView("empty_tensors");
    String a = repo.resolve("emptydiff:one").id().hex();
    String b = repo.resolve("emptydiff").id().hex();
    List<String> changed = SparkTests.spark().sql("select x.tensor from empty_tensors x join empty_tensors y on"
        + " x.tensor = y.tensor where x.version = '" + a + "' and y.version = '" + b + "' and x.content <> y.content")
        .collectAsList().stream().map(r -> r.getString(0)).toList();
    assertThat(changed).containsExactly("c.weight");
    assertThat(repo.diff("emptydiff:one", "emptydiff").tensors()).hasSize(1);
    assertThat(ferry().option("table", "tensors").load("emptydiff").where("tensor = 'b.empty'").select("chunks")
        .collectAsList()).allSatisfy(r -> assertThat(r.getList(0)).isEmpty());
  }

  /**
   * An empty tensor's row in the chunks table named the chunk of the tensor after it and read its 0 bytes from that
   * chunk, so a damaged neighbour failed the read of a tensor that has no bytes. Its row names no chunk now (an empty
   * string, as the tensors table lists none) and reads nothing; the neighbour's own read still fails.
   */
  @Test
  void anEmptyTensorsRowReadsNoChunk() throws Exception {
    Path dir = tmp.resolve("empty-neighbour");
    String uri = dir.toUri().toString();
    ChunkId next;
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, SparkTests.write(tmp, "empty-neighbour-model", List.of(
          new ModelGenerator.Tensor("b.empty", DType.F32, new long[] {0, 8}, 0),
          new ModelGenerator.Tensor("c.weight", DType.F32, new long[] {256, 512}, 2))), "en");
      FileEntry f = r.snapshot(r.resolve("en")).file("model.safetensors").orElseThrow();
      var t = f.tensors().stream().filter(x -> x.name().equals("c.weight")).findFirst().orElseThrow();
      next = f.chunks().get(FileEntry.chunkAt(f.chunkOffsets(), f.dataStart() + t.begin())).id();
    }
    Path object;
    try (var files = java.nio.file.Files.walk(dir)) {
      object = files.filter(p -> p.getFileName().toString().equals(next.hex().substring(2))).findFirst()
          .orElseThrow();
    }
    byte[] b = java.nio.file.Files.readAllBytes(object);
    b[b.length - 100] ^= 0x40;
    object.toFile().setWritable(true);
    java.nio.file.Files.write(object, b);
    List<Row> rows = SparkTests.spark().read().format("ferry").option("store", uri).load("en")
        .where("tensor = 'b.empty'").select("chunk", "length", "bytes").collectAsList();
    assertThat(rows).hasSize(1);
    assertThat(rows.get(0).getString(0)).isEmpty();
    assertThat(rows.get(0).getLong(1)).isZero();
    assertThat((byte[]) rows.get(0).get(2)).isEmpty();
    assertThatThrownBy(() -> SparkTests.spark().read().format("ferry").option("store", uri).load("en")
        .where("tensor = 'c.weight'").select("bytes").collectAsList()).hasStackTraceContaining(next.hex());
  }

  /**
   * A PyTorch view that is not a row-major run of its storage (a transpose): its bytes in the file are not its
   * elements in order. They were served as its bytes and values, and its content key equalled that of the row-major
   * tensor of the same bytes, dtype and shape; core's reader refuses them, and so does the source, on the driver.
   */
  @Test
  void aNonContiguousTorchViewHasNoBytesAndNotTheContentKeyOfTheRowMajorTensor() throws Exception {
    String uri = tmp.resolve("views-store").toUri().toString();
    try (Repository r = SparkTests.open(uri)) {
      for (String name : List.of("rowmajor", "transposed")) {
        Path dir = java.nio.file.Files.createDirectories(tmp.resolve("views").resolve(name));
        try (var in = getClass().getResourceAsStream("/torch/" + name + ".pt")) {
          java.nio.file.Files.copy(in, dir.resolve("w.pt"));
        }
        SparkTests.push(r, dir, "views");
      }
    }
    DataFrameReader views = SparkTests.spark().read().format("ferry").option("store", uri);
    List<Row> keys = views.option("table", "tensors").load("views").where("tensor = 'w'")
        .select("shape", "content").collectAsList();
    assertThat(keys).hasSize(2);
    assertThat(keys.get(0).getList(0)).isEqualTo(keys.get(1).getList(0));
    assertThat(keys.get(0).getString(1)).as("content keys of w and its transpose")
        .isNotEqualTo(keys.get(1).getString(1));
    assertThatThrownBy(() -> SparkTests.spark().read().format("ferry").option("store", uri).option("values", "true")
        .load("views").select("tensor", "values").collectAsList())
        .hasMessageContaining("tensor 'w' of w.pt is a non-contiguous view (strides [1,3] in elements)");
    assertThat(SparkTests.spark().read().format("ferry").option("store", uri).load("views")
        .select("tensor", "shape").collectAsList()).hasSize(1);
    assertThat(SparkTests.spark().read().format("ferry").option("store", uri).option("values", "true")
        .load("views~1").select("values").first().getList(0)).hasSize(12).startsWith(0f, 1f, 2f, 3f);
  }

  /**
   * A column of a matrix saved by PyTorch is a view that spans 9 of the matrix's floats and has 3: the tensors
   * table's length was the 36 bytes it spans, not its 12 bytes, as {@code ferry show} and {@code diff} give them.
   */
  @Test
  void theLengthOfAStridedTorchViewIsItsElementsNotTheBytesItSpans() throws Exception {
    String uri = tmp.resolve("column-store").toUri().toString();
    try (Repository r = SparkTests.open(uri)) {
      Path dir = java.nio.file.Files.createDirectories(tmp.resolve("column"));
      try (var in = getClass().getResourceAsStream("/torch/column.pt")) {
        java.nio.file.Files.copy(in, dir.resolve("w.pt"));
      }
      SparkTests.push(r, dir, "column");
    }
    Row w = SparkTests.spark().read().format("ferry").option("store", uri).option("table", "tensors").load("column")
        .where("tensor = 'w'").select("shape", "length").first();
    assertThat(w.getList(0)).containsExactly(3L);
    assertThat(w.getLong(1)).isEqualTo(12);
  }

  /**
   * A store's snapshot that gives a tensor one chunk of 2 GiB (no push writes one: tensors are cut into chunks of at
   * most 64 MiB) made the executor that read its bytes fail with an ArithmeticException naming nothing. The read is
   * refused while it is planned, naming the chunk, the tensor and the version.
   */
  @Test
  void aChunkTooBigForARowIsRefusedNamingItAndTheVersion() throws Exception {
    String uri = tmp.resolve("huge-store").toUri().toString();
    ChunkId crafted;
    ChunkId chunk;
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, SparkTests.write(tmp, "huge",
          List.of(new ModelGenerator.Tensor("w", DType.F32, new long[] {4}, 5))), "huge");
      io.ferry.repo.Results.VersionRef v = r.resolve("huge");
      FileEntry f = r.snapshot(v).file("model.safetensors").orElseThrow();
      io.ferry.format.TensorInfo t = f.tensors().get(0);
      long grown = (1L << 31) - t.byteLength();
      int at = FileEntry.chunkAt(f.chunkOffsets(), f.dataStart() + t.begin());
      chunk = f.chunks().get(at).id();
      List<io.ferry.version.ChunkRef> chunks = new ArrayList<>(f.chunks());
      chunks.set(at, new io.ferry.version.ChunkRef(chunk, f.chunks().get(at).length() + grown));
      FileEntry big = new FileEntry(f.path(), f.size() + grown, f.sha256(), f.format(), f.dataStart(), f.metadata(),
          List.of(new io.ferry.format.TensorInfo("w", DType.F32, List.of(1L << 29), t.begin(), t.end() + grown)),
          chunks);
      ChunkId snapshot = r.objects().writeObject(io.ferry.version.ObjectJson.toJson(
          new io.ferry.version.Snapshot(List.of(big)))).id();
      io.ferry.version.Version o = v.version();
      crafted = r.objects().writeObject(io.ferry.version.ObjectJson.toJson(new io.ferry.version.Version(snapshot,
          o.parents(), o.model(), o.message(), o.author(), o.time(), o.seq(), o.logLength(), o.packs(), o.stats(),
          o.metadata(), o.derivation()))).id();
      r.backend().refs().compareAndSet("huge/head", v.id(), crafted, new io.ferry.store.RefLogEntry(v.id(), crafted,
          "mallory", java.time.Instant.now(), "a crafted snapshot"));
    }
    assertThatThrownBy(() -> SparkTests.spark().read().format("ferry").option("store", uri).load("huge")
        .select("bytes").collectAsList())
        .hasMessageContaining("chunk " + chunk.hex())
        .hasMessageContaining("tensor 'w'")
        .hasMessageContaining(crafted.hex());
  }

  /**
   * The rows of a strided PyTorch view are not runs of the bytes it spans in the file: the chunks table gave the column
   * of a 3 x 3 matrix, a tensor of 3 rows, the rows [0, 9) of its 36 bytes. They are null; offset and length place
   * the row in the bytes the view spans.
   */
  @Test
  void theRowsOfAStridedTorchViewAreNull() throws Exception {
    String uri = tmp.resolve("column-rows-store").toUri().toString();
    try (Repository r = SparkTests.open(uri)) {
      Path dir = java.nio.file.Files.createDirectories(tmp.resolve("column-rows"));
      try (var in = getClass().getResourceAsStream("/torch/column.pt")) {
        java.nio.file.Files.copy(in, dir.resolve("w.pt"));
      }
      SparkTests.push(r, dir, "column");
    }
    Row w = SparkTests.spark().read().format("ferry").option("store", uri).load("column")
        .where("tensor = 'w'").select("row_start", "row_end", "offset", "length").first();
    assertThat(w.isNullAt(0)).as("row_start").isTrue();
    assertThat(w.isNullAt(1)).as("row_end").isTrue();
    assertThat(w.getLong(2)).isZero();
    assertThat(w.getLong(3)).isEqualTo(36);
  }

  @Test
  void aCorruptChunkFailsTheReadNamingIt() throws Exception {
    Path dir = tmp.resolve("corrupt");
    String uri = dir.toUri().toString();
    ChunkId lmHead;
    try (Repository r = SparkTests.open(uri)) {
      SparkTests.push(r, tmp.resolve("v1"), "tiny");
      FileEntry f = r.snapshot(r.resolve("tiny")).file("model.safetensors").orElseThrow();
      var t = f.tensors().stream().filter(x -> x.name().equals("lm_head.weight")).findFirst().orElseThrow();
      lmHead = f.chunks().get(FileEntry.chunkAt(f.chunkOffsets(), f.dataStart() + t.begin())).id();
    }
    Path object;
    try (var files = java.nio.file.Files.walk(dir)) {
      object = files.filter(p -> p.getFileName().toString().equals(lmHead.hex().substring(2))).findFirst()
          .orElseThrow();
    }
    byte[] b = java.nio.file.Files.readAllBytes(object);
    b[b.length - 100] ^= 0x40;
    object.toFile().setWritable(true);
    java.nio.file.Files.write(object, b);
    Dataset<Row> df = SparkTests.spark().read().format("ferry").option("store", uri).load("tiny")
        .where("tensor like 'lm_head%'").select("bytes");
    assertThatThrownBy(df::collectAsList).hasStackTraceContaining("lm_head.weight")
        .hasStackTraceContaining(lmHead.hex());
  }

  @Test
  void badOptionsAreRefusedWithTheOptionNamed() {
    assertThatThrownBy(() -> SparkTests.spark().read().format("ferry").load("tiny")).hasMessageContaining("store");
    assertThatThrownBy(() -> ferry().option("table", "nope").load("tiny")).hasMessageContaining("table='nope'");
  }

  /** A mistyped model gave an empty versions or tensors table, as if it had no history; a file path was ignored. */
  @Test
  void theMetadataTablesRefuseAnAbsentModelAndAFilePathAsTheChunksTableDoes() {
    for (String table : List.of("versions", "tensors")) {
      assertThatThrownBy(() -> ferry().option("table", table).load("tinyy").collectAsList()).as(table)
          .hasMessageContaining("no model 'tinyy'");
      assertThatThrownBy(() -> ferry().option("table", table).load("tiny//config.json").collectAsList()).as(table)
          .hasMessageContaining("'tiny//config.json' names a file");
      assertThatThrownBy(() -> ferry().option("table", table).load("tiny:prod//model.safetensors").collectAsList())
          .as(table).hasMessageContaining("names a file");
    }
    assertThatThrownBy(() -> ferry().load("tinyy").collectAsList()).hasMessageContaining("no model 'tinyy'");
    assertThat(ferry().option("table", "versions").load("tiny~1").collectAsList()).hasSize(1);
  }

  /** A mistyped option was ignored: {@code verfy} read without checking SHA-256, {@code partitionbyte} as default. */
  @Test
  void anUnknownOptionOrSeveralTargetsAreRefused() {
    assertThatThrownBy(() -> ferry().option("verfy", "true").load("tiny").collectAsList())
        .hasMessageContaining("unknown option 'verfy'").hasMessageContaining("verify");
    assertThatThrownBy(() -> ferry().option("table", "versions").load("tiny", "tinybf").collectAsList())
        .hasMessageContaining("load(...) takes one target");
    assertThat(ferry().option("VERIFY", "true").option("partitionbytes", "1000").load("tiny:prod").count())
        .isEqualTo(base.size());
    // values of the tables that have none were ignored
    for (String table : List.of("versions", "tensors")) {
      assertThatThrownBy(() -> ferry().option("table", table).option("values", "true").load("tiny").collectAsList())
          .as(table).hasMessageContaining("option values='true'").hasMessageContaining("the " + table + " table");
      assertThat(ferry().option("table", table).option("values", "false").load("tiny").count()).as(table)
          .isPositive();
    }
  }
}
