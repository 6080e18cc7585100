package io.ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.format.DType;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.CopyResult;
import io.ferry.repo.Results.PushResult;
import io.ferry.store.StoreOptions;
import io.ferry.store.hdfs.MiniHdfs;
import io.ferry.store.s3.LocalS3;
import io.ferry.testkit.DirectoryState;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import io.ferry.transfer.TransferListener;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replication between stores on the real engines: local → HDFS (MiniDFSCluster, 3 DataNodes) → S3 (S3Proxy) → a
 * fresh local store, {@link Repository#copyTo} at each hop. The last store pulls byte-identical models, versions keep
 * their ids everywhere, a repeated copy sends nothing, and a fine-tune copied after its base sends only what changed.
 * With {@code CI=true} an engine that does not start fails the test (MiniHdfs and LocalS3 never skip there).
 */
class CrossStoreCopyTest {
  private static final long MODEL_BYTES = 24L << 20;

  @TempDir Path work;

  @Test
  void localToHdfsToS3AndBackIsByteIdenticalAndSendsOnlyWhatTheTargetLacks() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    LocalS3 s3 = LocalS3.shared();

    List<Tensor> base = ModelGenerator.transformer(MODEL_BYTES, DType.BF16, 7);
    List<Tensor> tuned = ModelGenerator.finetune(base, 0.15, 11);
    Path baseDir = work.resolve("base");
    Path tunedDir = work.resolve("tuned");
    ModelGenerator.writeHfModel(baseDir, base, MODEL_BYTES / 3);
    ModelGenerator.writeHfModel(tunedDir, tuned, MODEL_BYTES / 3);

    try (Repository local = Ferry.open(work.resolve("local").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults());
        Repository onHdfs = Ferry.open(hdfs.hdfs(MiniHdfs.freshPath("copy")).toString(),
            StoreOptions.createIfMissing().withSettings(hdfs.settings()), RepositoryOptions.defaults());
        Repository onS3 = Ferry.open(LocalS3.freshStoreUri("copy").toString(), s3.options(true),
            RepositoryOptions.defaults());
        Repository back = Ferry.open(work.resolve("back").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
      PushResult basePush = local.push(baseDir, "llama:base", PushOptions.builder().message("base").build());
      PushResult tunedPush = local.push(tunedDir, "llama:tuned", PushOptions.builder().message("tuned").build());
      assertThat(tunedPush.newStoredBytes()).isPositive().isLessThan(basePush.newStoredBytes() / 2);
      List<Repository> chain = List.of(local, onHdfs, onS3, back);

      // the base, hop by hop; each hop sends everything once, then nothing
      for (int hop = 0; hop + 1 < chain.size(); hop++) {
        Repository from = chain.get(hop);
        Repository to = chain.get(hop + 1);
        CopyResult first = from.copyTo("llama:base", to, true, TransferListener.NONE);
        assertThat(first.versionsSent()).as("hop %d", hop).isEqualTo(1);
        assertThat(first.bytesSent()).as("hop %d bytes", hop).isGreaterThanOrEqualTo(basePush.newStoredBytes());
        CopyResult again = from.copyTo("llama:base", to, false, TransferListener.NONE);
        assertThat(again.versionsSent()).as("hop %d again", hop).isZero();
        assertThat(again.objectsSent()).as("hop %d again", hop).isZero();
        assertThat(again.bytesSent()).as("hop %d again", hop).isZero();
      }
      Path out = work.resolve("out-base");
      back.pull("llama:base", out, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(baseDir));

      // the fine-tune after its base: only its new chunks (plus its pack, snapshot and version) travel
      for (int hop = 0; hop + 1 < chain.size(); hop++) {
        CopyResult r = chain.get(hop).copyTo("llama:tuned", chain.get(hop + 1), false, TransferListener.NONE);
        assertThat(r.versionsSent()).as("hop %d", hop).isEqualTo(1);
        assertThat(r.objectsSent()).as("hop %d objects", hop).isPositive()
            .isLessThanOrEqualTo(tunedPush.newChunks() + 3);
        assertThat(r.bytesSent()).as("hop %d bytes", hop)
            .isBetween(tunedPush.newStoredBytes(), tunedPush.newStoredBytes() + (256L << 10));
      }
      Path outTuned = work.resolve("out-tuned");
      back.pull("llama:tuned", outTuned, PullOptions.defaults().withVerify(true));
      assertThat(DirectoryState.of(outTuned)).isEqualTo(DirectoryState.of(tunedDir));

      for (String ref : List.of("llama:base", "llama:tuned", "llama")) {
        ChunkId id = local.resolve(ref).id();
        for (Repository r : chain) {
          assertThat(r.resolve(ref).id()).as("%s in %s", ref, r.uri()).isEqualTo(id);
        }
      }
    }
  }
}
