package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every DataNode of the cluster stopped (the NameNode still counts them live, as it does for minutes): a push fails in
 * one line naming the store and the object and saying that no DataNode can take it, with Hadoop's several-line
 * error as the cause, and leaves the store as it found it; reads fail naming the store and what they read. Runs on a
 * cluster of its own: it stops DataNodes.
 */
class HdfsDataNodesDownTest {
  @TempDir Path work;

  @Test
  void aPushWithEveryDataNodeDownFailsNamingTheStoreAndLeavesItAsItWas() throws Exception {
    try (MiniHdfs hdfs = MiniHdfs.start()) {
      Path first = work.resolve("first");
      ModelGenerator.writeHfModel(first, ModelGenerator.transformer(1L << 20, DType.BF16, 1), 1L << 20);
      Path src = work.resolve("src");
      ModelGenerator.writeHfModel(src, ModelGenerator.transformer(16L << 20, DType.BF16, 2), 4L << 20);
      URI uri = hdfs.hdfs("/down");
      org.apache.hadoop.fs.Path root = new org.apache.hadoop.fs.Path("/down");
      FileSystem fs = hdfs.cluster().getFileSystem();
      // pushed an hour ago: no ref moved while the failing push ran (see the test below for one that did)
      java.time.Clock hourAgo = java.time.Clock.offset(java.time.Clock.systemUTC(), java.time.Duration.ofHours(-1));
      try (Repository earlier = Ferry.open(uri.toString(), StoreOptions.createIfMissing()
          .withSettings(hdfs.settings()), RepositoryOptions.defaults().withClock(hourAgo))) {
        earlier.push(first, "small:prod", PushOptions.builder().message("before").build());
      }
      StoreOptions quick = StoreOptions.existing().withSettings(MiniHdfs.QUICK_RETRIES);
      try (Repository pusher = Ferry.open(uri.toString(), quick, RepositoryOptions.defaults().withParallelism(2));
          Repository reader = Ferry.open(uri.toString(), quick, RepositoryOptions.defaults())) {
        java.util.Map<String, Long> before = MiniHdfs.files(fs, root);

        // the DataNodes stop once a quarter of the model is stored: the push has written objects by then
        AtAQuarter stopAll = new AtAQuarter(() -> {
          while (!hdfs.cluster().getDataNodes().isEmpty()) {
            hdfs.cluster().stopDataNode(0);
          }
        });
        assertThatThrownBy(() -> pusher.push(src, "llama:prod", PushOptions.builder().message("v1")
            .listener(stopAll).build()))
            .isInstanceOfSatisfying(IOException.class, e -> {
              assertThat(e.getMessage()).contains(uri.toString()).contains("could not write object")
                  .contains("no DataNode available to write to").doesNotContain("\n")
                  .doesNotContain("minReplication");
              assertThat(e.getCause()).isNotNull();
              // which of its four errors Hadoop gives depends on when the pipeline met the stopped DataNodes
              assertThat(e.getCause().getMessage()).as("Hadoop's own error, kept as the cause")
                  .containsAnyOf("could only be written to 0 of the", "are bad. Aborting",
                      "Failed to replace a bad datanode on the existing pipeline",
                      "does not have enough number of replicas");
            });
        assertThat(stopAll.ran()).isTrue();
        assertThat(pusher.refsOf("llama")).as("no ref moved").isEmpty();
        assertThat(MiniHdfs.files(fs, root)).as("the store after the failed push").isEqualTo(before);

        assertThatThrownBy(() -> reader.resolve("small:prod"))
            .hasMessageContaining(uri.toString()).hasMessageContaining("cannot read object")
            .hasMessageContaining("no DataNode that holds its bytes").hasMessageNotContaining("\n");
      }
      assertThatThrownBy(() -> Ferry.open(uri.toString(), quick, RepositoryOptions.defaults()))
          .hasMessageContaining(uri.toString()).hasMessageContaining("cannot read the store marker")
          .hasMessageContaining("no DataNode that holds it answered").hasMessageNotContaining("\n");
    }
  }

}
