package io.ferry.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorInfo;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.format.safetensors.SafetensorsWriter;
import io.ferry.format.torch.ByteSource;
import io.ferry.format.torch.TorchCheckpoint;
import io.ferry.read.ModelReader;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code pull --as torch}: safetensors files become zip checkpoints that Ferry's own torch reader takes back with
 * the same tensors, byte for byte, in every dtype torch has (float8 and uint16-64 through _rebuild_tensor_v3;
 * scalars, empty tensors and unicode names included); a
 * sharded model's index follows its files; zip64 is written where sizes or offsets need it; a dtype torch cannot hold
 * is refused before anything is written.
 */
class TorchExportTest {
  @TempDir Path tmp;

  /** A safetensors file of these tensors (name → dtype and shape) with random bytes; returns the bytes per name. */
  static Map<String, byte[]> write(Path file, Map<String, TensorInfo> spec, long seed) throws IOException {
    List<TensorInfo> table = new ArrayList<>();
    Map<String, byte[]> bytes = new LinkedHashMap<>();
    Random r = new Random(seed);
    long at = 0;
    for (TensorInfo t : spec.values()) {
      long n = t.end() - t.begin();
      table.add(new TensorInfo(t.name(), t.dtype(), t.shape(), at, at + n));
      byte[] b = new byte[(int) n];
      r.nextBytes(b);
      if (t.dtype() == DType.BOOL) {
        for (int i = 0; i < b.length; i++) {
          b[i] &= 1;
        }
      }
      bytes.put(t.name(), b);
      at += n;
    }
    Files.createDirectories(file.getParent());
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer h = SafetensorsWriter.header(Map.of("format", "pt"), table);
      while (h.hasRemaining()) {
        ch.write(h);
      }
      for (byte[] b : bytes.values()) {
        ch.write(ByteBuffer.wrap(b));
      }
    }
    return bytes;
  }

  static TensorInfo t(String name, DType dtype, long... shape) {
    long n = 1;
    List<Long> s = new ArrayList<>();
    for (long d : shape) {
      n *= d;
      s.add(d);
    }
    return new TensorInfo(name, dtype, s, 0, dtype.byteLength(n));
  }

  static Map<String, TensorInfo> spec(TensorInfo... ts) {
    Map<String, TensorInfo> m = new LinkedHashMap<>();
    for (TensorInfo t : ts) {
      m.put(t.name(), t);
    }
    return m;
  }

  /** Reads a written checkpoint with Ferry's torch reader: name → bytes (every view is contiguous here). */
  static Map<String, byte[]> readTorch(Path file) throws IOException {
    Map<String, byte[]> out = new LinkedHashMap<>();
    try (FileChannel ch = FileChannel.open(file)) {
      long size = ch.size();
      TorchCheckpoint ck = TorchCheckpoint.read(new ByteSource() {
        @Override
        public String name() {
          return file.getFileName().toString();
        }

        @Override
        public long size() {
          return size;
        }

        @Override
        public void readFully(ByteBuffer dst, long position) throws IOException {
          while (dst.hasRemaining()) {
            if (ch.read(dst, position + dst.position()) < 0) {
              throw new java.io.EOFException();
            }
          }
        }
      });
      for (TorchCheckpoint.View v : ck.tensors()) {
        assertThat(v.contiguous()).as(v.name()).isTrue();
        ByteBuffer b = ByteBuffer.allocate((int) (v.end() - v.begin()));
        while (b.hasRemaining()) {
          ch.read(b, v.begin() + b.position());
        }
        out.put(v.name(), b.array());
      }
    }
    return out;
  }

  @Test
  void everyTorchDtypeComesBackByteForByteAndTheIndexFollowsItsFiles() throws IOException {
    Path src = tmp.resolve("src");
    Map<String, byte[]> shard1 = write(src.resolve("model-00001-of-00002.safetensors"), spec(
        t("embed.weight", DType.BF16, 300, 1000), t("f16", DType.F16, 7, 3), t("f32", DType.F32, 5),
        t("f64", DType.F64, 2, 2), t("scalar", DType.F32), t("empty", DType.F32, 0, 4), t("i64", DType.I64, 3),
        t("i32", DType.I32, 3), t("i16", DType.I16, 3), t("i8", DType.I8, 3), t("u8", DType.U8, 3),
        t("bool", DType.BOOL, 9), t("c64", DType.C64, 2), t("ünïcødé.名前", DType.F32, 2),
        // torch 2's untyped storages, written with _rebuild_tensor_v3
        t("fp8", DType.F8_E4M3, 4, 3), t("fp8b", DType.F8_E5M2, 5), t("fp8fnuz", DType.F8_E4M3FNUZ, 2),
        t("e8m0", DType.F8_E8M0, 2), t("u16", DType.U16, 3), t("u32", DType.U32, 2), t("u64", DType.U64, 2),
        // torch's float4_e2m1fn_x2, two F4 values a byte: [3, 2] of it
        t("fp4", DType.F4, 3, 4)), 1);
    Map<String, byte[]> shard2 = write(src.resolve("model-00002-of-00002.safetensors"), spec(
        t("lm_head.weight", DType.F32, 64, 1024)), 2);
    StringBuilder index = new StringBuilder("{\"metadata\": {\"total_size\": 1}, \"weight_map\": {");
    shard1.keySet().forEach(k -> index.append('"').append(k).append("\": \"model-00001-of-00002.safetensors\", "));
    index.append("\"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}");
    Files.writeString(src.resolve("model.safetensors.index.json"), index);
    Files.writeString(src.resolve("config.json"), "{\"a\": 1}");

    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().message("m").build());
      Path out = tmp.resolve("out");
      Export.Result res;
      try (ModelReader r = repo.open("m")) {
        res = Export.write(r.verifying(true), out, false, Export.As.TORCH);
      }
      assertThat(res.files()).containsExactlyInAnyOrder("config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin");
      assertThat(res.tensors()).isEqualTo(shard1.size() + shard2.size());
      assertSame(readTorch(out.resolve("pytorch_model-00001-of-00002.bin")), shard1);
      assertSame(readTorch(out.resolve("pytorch_model-00002-of-00002.bin")), shard2);
      assertThat(out.resolve("config.json")).hasContent("{\"a\": 1}");
      String idx = Files.readString(out.resolve("pytorch_model.bin.index.json"));
      assertThat(idx).contains("\"lm_head.weight\" : \"pytorch_model-00002-of-00002.bin\"")
          .contains("\"embed.weight\" : \"pytorch_model-00001-of-00002.bin\"").doesNotContain(".safetensors");

      // the written checkpoints are torch files to Ferry too: pushed, they list the same tensors
      try (FileChannel ch = FileChannel.open(out.resolve("pytorch_model-00001-of-00002.bin"))) {
        FileLayout l = FormatRegistry.standard().read(new FormatInput("pytorch_model-00001-of-00002.bin", ch,
            ch.size())).orElseThrow();
        assertThat(l.format()).isEqualTo("torch");
        assertThat(l.tensors()).extracting(TensorInfo::name).containsExactlyElementsOf(shard1.keySet());
        assertThat(l.tensors()).filteredOn(x -> x.name().equals("embed.weight")).extracting(TensorInfo::shape)
            .containsExactly(List.of(300L, 1000L));
        assertThat(l.tensors()).filteredOn(x -> x.name().equals("fp4")).extracting(TensorInfo::dtype, TensorInfo::shape)
            .containsExactly(org.assertj.core.groups.Tuple.tuple(DType.F4, List.of(3L, 4L)));
      }
      // the same tensors give the same bytes
      Path again = tmp.resolve("again");
      try (ModelReader r = repo.open("m")) {
        Export.write(r, again, false, Export.As.TORCH);
      }
      assertThat(Files.mismatch(out.resolve("pytorch_model-00001-of-00002.bin"),
          again.resolve("pytorch_model-00001-of-00002.bin"))).isEqualTo(-1);
      // every entry's data starts on 64 bytes
      assertThat(dataOffsets(out.resolve("pytorch_model-00001-of-00002.bin"))).allMatch(o -> o % 64 == 0);
    }
  }

  @Test
  void zip64FieldsAreWrittenAndReadBack() throws IOException {
    Path file = tmp.resolve("z64.bin");
    List<io.ferry.format.torch.TorchZipWriter.Tensor> ts = List.of(
        new io.ferry.format.torch.TorchZipWriter.Tensor("w", DType.F32, List.of(3L, 5L)),
        new io.ferry.format.torch.TorchZipWriter.Tensor("b", DType.I64, List.of(5L)));
    Random r = new Random(5);
    byte[] w = new byte[60];
    byte[] b = new byte[40];
    r.nextBytes(w);
    r.nextBytes(b);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      io.ferry.format.torch.TorchZipWriters.withZip64From(ch, "z64.bin", ts, 0, List.of(w, b));
    }
    Map<String, byte[]> expected = new LinkedHashMap<>();
    expected.put("w", w);
    expected.put("b", b);
    assertSame(readTorch(file), expected);
    byte[] all = Files.readAllBytes(file);
    assertThat(indexOf(all, new byte[] {0x50, 0x4b, 0x06, 0x06})).as("zip64 end record").isPositive();
    assertThat(indexOf(all, new byte[] {0x50, 0x4b, 0x06, 0x07})).as("zip64 locator").isPositive();
  }

  /**
   * Complex tensors are written with torch's own storages ({@code ComplexFloatStorage} for C64,
   * {@code ComplexDoubleStorage} for C128, as torch.save writes them) and read back with their bytes; C128 was refused
   * ("which torch has no dtype for") although torch holds complex128.
   */
  @Test
  void complexTensorsAreWrittenWithTorchsComplexStorages() throws IOException {
    Path file = tmp.resolve("c.bin");
    List<io.ferry.format.torch.TorchZipWriter.Tensor> ts = List.of(
        new io.ferry.format.torch.TorchZipWriter.Tensor("z", DType.C128, List.of(2L)),
        new io.ferry.format.torch.TorchZipWriter.Tensor("y", DType.C64, List.of(3L)));
    Random r = new Random(7);
    byte[] z = new byte[32];
    byte[] y = new byte[24];
    r.nextBytes(z);
    r.nextBytes(y);
    io.ferry.format.torch.TorchZipWriter.check("c.bin", ts);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      io.ferry.format.torch.TorchZipWriter w = io.ferry.format.torch.TorchZipWriter.start(ch, "c.bin", ts);
      w.tensor(c -> c.write(ByteBuffer.wrap(z)));
      w.tensor(c -> c.write(ByteBuffer.wrap(y)));
      w.finish();
    }
    Map<String, byte[]> expected = new LinkedHashMap<>();
    expected.put("z", z);
    expected.put("y", y);
    assertSame(readTorch(file), expected);
    byte[] all = Files.readAllBytes(file);
    assertThat(indexOf(all, "ComplexDoubleStorage".getBytes(StandardCharsets.US_ASCII))).isPositive();
    assertThat(indexOf(all, "ComplexFloatStorage".getBytes(StandardCharsets.US_ASCII))).isPositive();
  }

  @Test
  void aDtypeTorchCannotHoldIsRefusedBeforeAnythingIsWritten() throws IOException {
    Path src = tmp.resolve("src");
    write(src.resolve("a.safetensors"), spec(t("ok", DType.F32, 2)), 1);
    write(src.resolve("b.safetensors"), spec(t("fine", DType.F16, 2), t("layers.3.fp6", DType.F6_E2M3, 8)), 2);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().message("m").build());
      Path out = tmp.resolve("out");
      Files.createDirectories(out);
      Files.writeString(out.resolve("a.bin"), "mine");
      try (ModelReader r = repo.open("m")) {
        assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH))
            .isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("b.safetensors").hasMessageContaining("'layers.3.fp6'")
            .hasMessageContaining("is F6_E2M3, which torch has no dtype for");
      }
      try (Stream<Path> files = Files.list(out)) {
        assertThat(files).containsExactly(out.resolve("a.bin"));
      }
      assertThat(out.resolve("a.bin")).hasContent("mine");
    }
  }

  /** torch holds F4 values only in pairs along the last dimension (float4_e2m1fn_x2): an odd one is refused. */
  @Test
  void anF4TensorWithAnOddLastDimensionIsRefused() {
    assertThatThrownBy(() -> io.ferry.format.torch.TorchZipWriter.check("x.bin",
        List.of(new io.ferry.format.torch.TorchZipWriter.Tensor("odd", DType.F4, List.of(2L, 3L)))))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage("x.bin: tensor 'odd' is F4 [2, 3]; torch holds F4 only as float4_e2m1fn_x2, two values a byte"
            + " along the last dimension, which must so be even; pull such a version as it is, or as safetensors");
  }

  /** What Ferry writes as a checkpoint it reads back: a tensor of more dimensions than its reader takes is refused. */
  @Test
  void aTensorOfMoreDimensionsThanFerryReadsIsRefusedBeforeAnythingIsWritten() throws IOException {
    Path src = tmp.resolve("src");
    long[] deep = new long[io.ferry.format.torch.TorchLimits.MAX_DIMS + 1];
    java.util.Arrays.fill(deep, 1);
    long[] deepest = java.util.Arrays.copyOf(deep, deep.length - 1);
    write(src.resolve("a.safetensors"), spec(t("ok", DType.F32, deepest)), 1);
    write(src.resolve("b.safetensors"), spec(t("too.deep", DType.F32, deep)), 2);
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().message("m").build());
      Path out = tmp.resolve("out");
      try (ModelReader r = repo.open("m")) {
        assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH))
            .isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("b.safetensors").hasMessageContaining("'too.deep' has 65 dimensions");
      }
      assertThat(out).doesNotExist();
      Files.delete(src.resolve("b.safetensors"));
      repo.push(src, "m", PushOptions.builder().message("64 dimensions").build());
      try (ModelReader r = repo.open("m")) {
        Export.write(r, out, false, Export.As.TORCH);
      }
      Path back = tmp.resolve("back");
      Files.createDirectories(back);
      try (java.util.stream.Stream<Path> files = Files.list(out)) {
        for (Path f : files.toList()) {
          Files.copy(f, back.resolve(f.getFileName()));
        }
      }
      repo.push(back, "m-torch", PushOptions.builder().message("read back").build());
    }
  }

  /** A new store holding model m: model.safetensors with one F32 tensor w of 4 x 4. */
  private Repository storeWithOneTensor() throws IOException {
    Path src = tmp.resolve("src");
    write(src.resolve("model.safetensors"), spec(t("w", DType.F32, 4, 4)), 3);
    Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
    repo.push(src, "m", PushOptions.builder().message("m").build());
    return repo;
  }

  /**
   * Files already in DEST are handled as a plain pull handles them: a file that differs from the converted one, or
   * one the conversion does not write, makes the pull refuse (nothing written, DEST as it was) unless it may merge
   * or force; identical files are kept.
   */
  @Test
  void filesAlreadyInDestAreRefusedMergedOrRemovedAsForAPull() throws IOException {
    try (Repository repo = storeWithOneTensor()) {
      Path out = Files.createDirectories(tmp.resolve("out"));
      Files.writeString(out.resolve("pytorch_model.bin"), "mine");
      try (ModelReader r = repo.open("m")) {
        assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH))
            .isInstanceOf(InvalidInputException.class)
            .hasMessage(out + ": holds 1 file that differs from the converted version's (pytorch_model.bin); "
                + "nothing was written: pull --as torch --force makes the directory exactly the converted version "
                + "(replacing and removing them), --merge replaces the converted version's files and keeps the others");
        assertThat(out.resolve("pytorch_model.bin")).hasContent("mine");
        try (Stream<Path> files = Files.list(out)) {
          assertThat(files).containsExactly(out.resolve("pytorch_model.bin"));
        }

        Export.write(r, out, false, Export.As.TORCH, PullOptions.Existing.MERGE);
        byte[] converted = Files.readAllBytes(out.resolve("pytorch_model.bin"));
        assertThat(readTorch(out.resolve("pytorch_model.bin"))).containsOnlyKeys("w");
        Export.write(r, out, false, Export.As.TORCH); // identical: kept, no refusal

        Files.createDirectories(out.resolve("notes"));
        Files.writeString(out.resolve("notes/todo.txt"), "x");
        assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH))
            .isInstanceOf(InvalidInputException.class)
            .hasMessageStartingWith(out + ": holds 1 file the converted version does not have (notes/todo.txt); ");
        Export.write(r, out, false, Export.As.TORCH, PullOptions.Existing.MERGE);
        assertThat(out.resolve("notes/todo.txt")).exists();
        Export.write(r, out, false, Export.As.TORCH, PullOptions.Existing.FORCE);
        try (Stream<Path> files = Files.list(out)) {
          assertThat(files).containsExactly(out.resolve("pytorch_model.bin"));
        }
        assertThat(out.resolve("pytorch_model.bin")).hasBinaryContent(converted);
      }
    }
  }

  /**
   * A forced conversion that cannot remove a file the converted version does not have (on a read-only mount inside
   * DEST) has put its files in place already: the error says so and names the file, as a plain pull's does.
   */
  @Test
  void aForcedConversionThatCannotRemoveAnotherFileSaysItsFilesAreInPlace() throws Exception {
    try (Repository repo = storeWithOneTensor()) {
      Path out = Files.createDirectories(tmp.resolve("out"));
      try (io.ferry.store.TinyTmpfs ro = io.ferry.store.TinyTmpfs.mount(out.resolve("ro"), "1m");
          ModelReader r = repo.open("m")) {
        Files.writeString(ro.path().resolve("extra.txt"), "not in the version");
        ro.remountReadOnly();
        assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH, PullOptions.Existing.FORCE))
            .hasMessageContaining("pull --as torch put every file of the version into " + out)
            .hasMessageContaining(out.resolve("ro/extra.txt") + ": Read-only file system");
        assertThat(readTorch(out.resolve("pytorch_model.bin"))).containsOnlyKeys("w");
      }
    }
  }

  /**
   * A link where a converted file goes is a file that differs, as for a plain pull: refused without --force or
   * --merge, replaced (the link, never what it points to) with them; it was refused even with --force.
   */
  @Test
  void aLinkWhereAConvertedFileGoesIsReplacedWithForceOrMergeNeverWrittenThrough() throws IOException {
    try (Repository repo = storeWithOneTensor()) {
      Path victim = tmp.resolve("victim");
      Files.writeString(victim, "precious");
      for (PullOptions.Existing mode : List.of(PullOptions.Existing.FORCE, PullOptions.Existing.MERGE)) {
        Path out = Files.createDirectories(tmp.resolve("out-" + mode));
        Files.createSymbolicLink(out.resolve("pytorch_model.bin"), victim);
        try (ModelReader r = repo.open("m")) {
          assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH))
              .isInstanceOf(InvalidInputException.class).hasMessageContaining("differs")
              .hasMessageContaining("pytorch_model.bin");
          assertThat(Files.isSymbolicLink(out.resolve("pytorch_model.bin"))).isTrue();
          Export.write(r, out, false, Export.As.TORCH, mode);
        }
        assertThat(Files.isSymbolicLink(out.resolve("pytorch_model.bin"))).as("%s", mode).isFalse();
        assertThat(readTorch(out.resolve("pytorch_model.bin"))).containsOnlyKeys("w");
        assertThat(victim).hasContent("precious");
      }
    }
  }

  /**
   * A conversion killed midway (kill -9) leaves its temporary file: the next one removes it, as a pull does, instead
   * of refusing it as a file the converted version does not have. A pull's lock is not taken for a temporary file.
   */
  @Test
  void theTemporaryFilesOfAKilledConversionAreRemovedNotInTheWay() throws IOException {
    try (Repository repo = storeWithOneTensor()) {
      Path out = Files.createDirectories(tmp.resolve("out"));
      Files.writeString(out.resolve(".ferry-6f038d5e23e70d45.tmp"), "half a file");
      Files.createDirectories(out.resolve("sub"));
      Files.writeString(out.resolve("sub/.ferry-0123456789abcdef.old"), "a file being replaced");
      try (ModelReader r = repo.open("m")) {
        Export.write(r, out, false, Export.As.TORCH);
        try (Stream<Path> files = Files.walk(out)) {
          assertThat(files.filter(Files::isRegularFile)).containsExactly(out.resolve("pytorch_model.bin"));
        }
        Files.writeString(out.resolve(".ferry-pull.lock"), "");
        assertThatThrownBy(() -> Export.write(r, out, false, Export.As.TORCH))
            .isInstanceOf(InvalidInputException.class).hasMessageContaining(".ferry-pull.lock");
        assertThat(out.resolve(".ferry-pull.lock")).exists();
      }
    }
  }

  /**
   * The converted files are renamed into place all or none, as a plain pull's: when a rename fails midway, the files
   * already replaced get their previous content back, the new ones are removed, and no temporary file is left.
   */
  @Test
  void aRenameThatFailsMidwayLeavesDestAsItWas() throws IOException {
    Path src = tmp.resolve("src");
    write(src.resolve("model.safetensors"), spec(t("w", DType.F32, 4, 4)), 3);
    Files.writeString(src.resolve("a.txt"), "new a");
    Files.writeString(src.resolve("b.txt"), "new b");
    Files.writeString(src.resolve("c.txt"), "new c");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().message("m").build());
      Path out = Files.createDirectories(tmp.resolve("out"));
      Files.writeString(out.resolve("a.txt"), "old a");
      Files.writeString(out.resolve("pytorch_model.bin"), "old weights");
      java.util.concurrent.atomic.AtomicInteger renames = new java.util.concurrent.atomic.AtomicInteger();
      io.ferry.transfer.Placement.Renamer failsOnTheThird = (from, to) -> {
        if (renames.incrementAndGet() == 3) {
          throw new IOException("injected rename failure");
        }
        io.ferry.transfer.Placement.ATOMIC.rename(from, to);
      };
      try (ModelReader r = repo.open("m")) {
        assertThatThrownBy(() -> Export.write(r, out, false, "torch", TorchExport::convertedName,
            TorchExport::convert, PullOptions.Existing.MERGE, failsOnTheThird))
            .isInstanceOf(IOException.class).hasMessageContaining("injected rename failure");
      }
      assertThat(renames.get()).as("renames tried, the undo's among them").isGreaterThan(3);
      try (Stream<Path> files = Files.list(out)) {
        assertThat(files).containsExactlyInAnyOrder(out.resolve("a.txt"), out.resolve("pytorch_model.bin"));
      }
      assertThat(out.resolve("a.txt")).hasContent("old a");
      assertThat(out.resolve("pytorch_model.bin")).hasContent("old weights");
    }
  }

  /** Any file name a plain pull writes (up to 255 bytes) is written by a converting pull too. */
  @Test
  void fileNamesUpToTheFileSystemsLimitAreWritten() throws IOException {
    Path src = tmp.resolve("src");
    write(src.resolve("model.safetensors"), spec(t("w", DType.F32, 2)), 4);
    String longName = "n".repeat(250) + ".txt";
    Files.writeString(src.resolve(longName), "notes");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(src, "m", PushOptions.builder().message("m").build());
      Path out = tmp.resolve("out");
      try (ModelReader r = repo.open("m")) {
        Export.write(r, out, false, Export.As.TORCH);
      }
      assertThat(out.resolve(longName)).hasContent("notes");
      try (Stream<Path> files = Files.list(out)) {
        assertThat(files).containsExactlyInAnyOrder(out.resolve(longName), out.resolve("pytorch_model.bin"));
      }
    }
  }

  @Test
  void anUnknownFormatIsRefusedByName() throws InvalidInputException {
    assertThatThrownBy(() -> Export.As.parse("avro")).isInstanceOf(InvalidInputException.class)
        .hasMessage("--as avro: pull converts to safetensors or torch, not 'avro'");
    assertThat(Export.As.parse("Torch")).isEqualTo(Export.As.TORCH);
  }

  @Test
  void namesFollowTheHuggingFaceConvention() {
    assertThat(TorchExport.binName("model.safetensors")).isEqualTo("pytorch_model.bin");
    assertThat(TorchExport.binName("a/model-00001-of-00003.safetensors")).isEqualTo("a/pytorch_model-00001-of-00003.bin");
    assertThat(TorchExport.binName("adapter_model.safetensors")).isEqualTo("adapter_model.bin");
    assertThat(TorchExport.binName("x/modelish.safetensors")).isEqualTo("x/modelish.bin");
  }

  private static void assertSame(Map<String, byte[]> got, Map<String, byte[]> expected) {
    assertThat(got.keySet()).containsExactlyElementsOf(expected.keySet());
    for (Map.Entry<String, byte[]> e : expected.entrySet()) {
      assertThat(got.get(e.getKey())).as(e.getKey()).isEqualTo(e.getValue());
    }
  }

  /** Where each local entry's data starts, from the local headers. */
  private static List<Long> dataOffsets(Path zip) throws IOException {
    byte[] a = Files.readAllBytes(zip);
    ByteBuffer b = ByteBuffer.wrap(a).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    List<Long> out = new ArrayList<>();
    int at = 0;
    while (b.getInt(at) == 0x04034b50) {
      long size = b.getInt(at + 22) & 0xFFFFFFFFL;
      int name = b.getShort(at + 26) & 0xFFFF;
      int extra = b.getShort(at + 28) & 0xFFFF;
      long data = at + 30L + name + extra;
      out.add(data);
      at = (int) (data + size);
    }
    assertThat(out).hasSizeGreaterThan(3);
    return out;
  }

  private static int indexOf(byte[] a, byte[] what) {
    for (int i = 0; i + what.length <= a.length; i++) {
      if (java.util.Arrays.equals(a, i, i + what.length, what, 0, what.length)) {
        return i;
      }
    }
    return -1;
  }
}
