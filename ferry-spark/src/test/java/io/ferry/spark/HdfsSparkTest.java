package io.ferry.spark;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.spark.jobs.CopyJob;
import io.ferry.spark.jobs.VerifyJob;
import io.ferry.spark.source.FerryDataSource;
import io.ferry.spark.store.StoreSpec;
import io.ferry.store.StoreOptions;
import io.ferry.store.hdfs.MiniHdfs;
import io.ferry.Ferry;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spark against a real HDFS (the shaded MiniDFSCluster in this JVM, 3 DataNodes): a version copied from a local store
 * to HDFS by a Spark job, verified there by another, read back through the data source, whose partitions name the
 * DataNodes that hold their chunks as preferred locations.
 */
class HdfsSparkTest {
  @TempDir
  Path tmp;

  @Test
  void copyToHdfsThenVerifyAndReadWithBlockLocality() throws Exception {
    MiniHdfs hdfs = MiniHdfs.shared();
    String local = tmp.resolve("store").toUri().toString();
    try (Repository repo = SparkTests.open(local)) {
      SparkTests.push(repo, SparkTests.write(tmp, "v1", SparkTests.model(DType.BF16, 21)), "hd:prod");
    }
    String uri = hdfs.hdfs(MiniHdfs.freshPath("spark")).toString();
    Ferry.open(uri, StoreOptions.createIfMissing().withSettings(hdfs.settings()), RepositoryOptions.defaults())
        .close();
    StoreSpec target = new StoreSpec(uri, hdfs.settings());

    CopyJob.Result copied = new CopyJob(SparkTests.spark(), StoreSpec.of(local), target, 1 << 20)
        .run("hd:prod", false);
    assertThat(copied.chunksByExecutors()).isPositive();
    VerifyJob.Result verified = new VerifyJob(SparkTests.spark(), target, 1 << 20).run(List.of("hd:prod"));
    assertThat(verified.ok()).as(verified.errors().toString()).isTrue();
    assertThat(verified.chunks()).isPositive();

    List<Row> rows = SparkTests.spark().read().format("ferry").option("store", uri)
        .option("store.dfs.replication", "3").load("hd:prod").select("tensor", "bytes").collectAsList();
    try (Repository repo = SparkTests.open(local); ModelReader reader = repo.open("hd:prod")) {
      assertThat(rows).hasSize(reader.tensors().size());
      for (Row r : rows) {
        assertThat(ByteBuffer.wrap((byte[]) r.get(1))).isEqualTo(reader.read(r.getString(0)));
      }
    }

    Map<String, String> options = new HashMap<>(Map.of("store", uri, "path", "hd:prod",
        "store.dfs.replication", "3"));
    var table = new FerryDataSource().getTable(null, null, options);
    InputPartition[] parts = ((org.apache.spark.sql.connector.catalog.SupportsRead) table)
        .newScanBuilder(new CaseInsensitiveStringMap(options)).build().toBatch().planInputPartitions();
    assertThat(parts).isNotEmpty();
    for (InputPartition p : parts) {
      assertThat(p.preferredLocations()).as("hosts of a partition's first chunk").isNotEmpty()
          .hasSizeLessThanOrEqualTo(MiniHdfs.DATANODES);
    }
  }
}
