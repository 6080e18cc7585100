package io.ferry.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.chunk.ChunkPlanner;
import io.ferry.codec.CodecPolicy;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorFormat;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.format.safetensors.SafetensorsFormat;
import io.ferry.format.torch.TorchFormat;
import io.ferry.format.torch.TorchZipWriter;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push parses each file once, at its scan. Its check at the end that the file still gives the layout it recorded
 * (a header rewritten in place, the stamp put back) read and parsed the file again, which for a checkpoint of 300,000
 * tensors built a second tensor table while the push held the first and its snapshot, and ran out of the launcher's
 * heap. It reads again only the bytes the format read, and still refuses a file whose header changed.
 */
class PushParsesOnceTest {
  @TempDir Path tmp;
  private Repository repo;
  private ExecutorService pool;
  private final Map<String, AtomicInteger> reads = new TreeMap<>();

  @BeforeEach
  void open() throws IOException {
    repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), RepositoryOptions.defaults());
    pool = Executors.newFixedThreadPool(2);
  }

  @AfterEach
  void close() throws IOException {
    pool.shutdownNow();
    repo.close();
  }

  /** A format that counts its reads of each file. */
  private TensorFormat counting(TensorFormat f) {
    return new TensorFormat() {
      @Override
      public String name() {
        return f.name();
      }

      @Override
      public Set<String> extensions() {
        return f.extensions();
      }

      @Override
      public FileLayout read(FormatInput in) throws IOException {
        reads.computeIfAbsent(in.name(), k -> new AtomicInteger()).incrementAndGet();
        return f.read(in);
      }
    };
  }

  private Pusher.Staged push(Path source) throws IOException {
    FormatRegistry formats = FormatRegistry.of(
        List.of(counting(new SafetensorsFormat()), counting(new TorchFormat())), List.of());
    Pusher p = new Pusher(repo.objects(), ChunkPlanner.standard(), formats, pool, CodecPolicy.NONE,
        TransferListener.NONE, (created, cause) -> { });
    return p.store(p.prepare(source), repo.objects().locator(List.of()));
  }

  @Test
  void eachFileIsParsedOnceAPush() throws IOException {
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    writeSafetensors(src.resolve("model.safetensors"), "alpha");
    writeCheckpoint(src.resolve("model.pt"), 300);
    Pusher.Staged staged = push(src);
    assertThat(staged.snapshot().files()).hasSize(2);
    assertThat(reads).containsOnlyKeys("model.pt", "model.safetensors");
    assertThat(reads.values()).as("reads of each file's layout").allSatisfy(n -> assertThat(n.get()).isOne());
  }

  @Test
  void aHeaderRewrittenAfterTheScanStillFailsThePush() throws IOException {
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    Path model = src.resolve("model.safetensors");
    writeSafetensors(model, "alpha");
    Path other = tmp.resolve("trainer.safetensors");
    Files.createLink(other, model);
    FileTime dated = FileTime.fromMillis(1_600_000_000_000L);
    Files.setLastModifiedTime(model, dated);
    FormatRegistry formats = FormatRegistry.standard();
    TransferListener rewrite = new TransferListener() {
      @Override
      public void phase(String name, long totalBytes) {
        try {
          // the same length, through another name, the modification time put back: the stamp does not show it
          writeSafetensors(other, "omega");
          Files.setLastModifiedTime(model, dated);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
    Pusher p = new Pusher(repo.objects(), ChunkPlanner.standard(), formats, pool, CodecPolicy.NONE, rewrite,
        (created, cause) -> { });
    Pusher.Prepared prepared = p.prepare(src);
    assertThatThrownBy(() -> p.store(prepared, repo.objects().locator(List.of())))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("model.safetensors changed while it was pushed")
        .hasMessageContaining("its safetensors header reads differently from when it was scanned");
  }

  /**
   * A shard index rewritten in place after the scan checked it against its shards (the same length, through another
   * name, its time put back): the push stored an index that lists tensors its shards do not hold. It fails.
   */
  @Test
  void aShardIndexRewrittenAfterTheScanFailsThePush() throws IOException {
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    writeSafetensors(src.resolve("model-00001-of-00001.safetensors"), "alpha");
    Path index = src.resolve("model.safetensors.index.json");
    Files.writeString(index, index("alpha"));
    Path other = tmp.resolve("trainer.index.json");
    Files.createLink(other, index);
    FileTime dated = FileTime.fromMillis(1_600_000_000_000L);
    Files.setLastModifiedTime(index, dated);
    TransferListener rewrite = new TransferListener() {
      @Override
      public void phase(String name, long totalBytes) {
        try {
          Files.writeString(other, index("omega"));
          Files.setLastModifiedTime(other, dated);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
    Pusher p = new Pusher(repo.objects(), ChunkPlanner.standard(), FormatRegistry.standard(), pool,
        CodecPolicy.NONE, rewrite, (created, cause) -> { });
    Pusher.Prepared prepared = p.prepare(src);
    assertThatThrownBy(() -> p.store(prepared, repo.objects().locator(List.of())))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("model.safetensors.index.json changed while it was pushed")
        .hasMessageContaining("reads differently from when it was scanned");
  }

  private static String index(String prefix) {
    return "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"" + prefix
        + ".w\":\"model-00001-of-00001.safetensors\",\"" + prefix + ".b\":\"model-00001-of-00001.safetensors\"}}";
  }

  /** Two F32 tensors named after {@code prefix}, whose header is as long for every prefix of five letters. */
  private static void writeSafetensors(Path file, String prefix) throws IOException {
    String header = "{\"" + prefix + ".w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"" + prefix
        + ".b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer all = ByteBuffer.allocate(8 + h.length + 24).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    all.putLong(h.length).put(h);
    for (int i = 0; i < 6; i++) {
      all.putFloat(i);
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ch.write(all.flip(), 0);
    }
  }

  /** A checkpoint of {@code n} F32 scalars, as {@code pull --as torch} writes them. */
  private static void writeCheckpoint(Path file, int n) throws IOException {
    List<TorchZipWriter.Tensor> ts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ts.add(new TorchZipWriter.Tensor("t." + i, DType.F32, List.of()));
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      TorchZipWriter w = TorchZipWriter.start(ch, file.toString(), ts);
      for (int i = 0; i < n; i++) {
        float v = i;
        w.tensor(out -> out.write(ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(0, v)));
      }
      w.finish();
    }
  }
}
