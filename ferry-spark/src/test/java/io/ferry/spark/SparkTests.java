package io.ferry.spark;

import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * The one SparkSession of the test JVM ({@code local[2,2]}: two threads, a failed task tried twice; no UI, loopback
 * only, scratch under {@code target/}), started on first use and stopped at exit, and small models to read.
 */
public final class SparkTests {
  private static SparkSession session;

  private SparkTests() {}

  /** The shared session. */
  public static synchronized SparkSession spark() {
    if (session == null) {
      session = SparkSession.builder()
          .master("local[2,2]")
          .appName("ferry-spark-tests")
          .config("spark.ui.enabled", "false")
          .config("spark.driver.host", "127.0.0.1")
          .config("spark.driver.bindAddress", "127.0.0.1")
          .config("spark.local.dir", Path.of("target", "spark-local").toAbsolutePath().toString())
          .config("spark.sql.shuffle.partitions", "2")
          .config("spark.task.maxFailures", "2")
          // the tests' queries are tiny: generating and compiling code for them costs more than it saves
          .config("spark.sql.codegen.wholeStage", "false")
          .config("spark.sql.adaptive.enabled", "false")
          .getOrCreate();
      session.sparkContext().setLogLevel("ERROR");
      SparkSession s = session;
      Runtime.getRuntime().addShutdownHook(new Thread(s::stop, "spark-tests-stop"));
    }
    return session;
  }

  /** A small transformer-like model: 2 layers of 256 x 256 and embeddings, about 6 MiB in F32. */
  public static List<ModelGenerator.Tensor> model(DType dtype, long seed) {
    List<ModelGenerator.Tensor> out = new java.util.ArrayList<>();
    long s = seed;
    out.add(new ModelGenerator.Tensor("model.embed_tokens.weight", dtype, new long[] {1024, 256}, s++));
    for (int l = 0; l < 2; l++) {
      String p = "model.layers." + l + ".";
      out.add(new ModelGenerator.Tensor(p + "input_layernorm.weight", dtype, new long[] {256}, s++));
      for (String w : List.of("q_proj", "k_proj", "v_proj", "o_proj")) {
        out.add(new ModelGenerator.Tensor(p + "self_attn." + w + ".weight", dtype, new long[] {256, 256}, s++));
      }
      out.add(new ModelGenerator.Tensor(p + "mlp.up_proj.weight", dtype, new long[] {512, 256}, s++));
      out.add(new ModelGenerator.Tensor(p + "mlp.down_proj.weight", dtype, new long[] {256, 512}, s++));
    }
    out.add(new ModelGenerator.Tensor("model.norm.weight", dtype, new long[] {256}, s++));
    out.add(new ModelGenerator.Tensor("lm_head.weight", dtype, new long[] {1024, 256}, s));
    return out;
  }

  /** Writes {@code tensors} as {@code model.safetensors} (and a config.json) in a new directory under {@code dir}. */
  public static Path write(Path dir, String name, List<ModelGenerator.Tensor> tensors) throws IOException {
    Path src = Files.createDirectories(dir.resolve(name));
    ModelGenerator.writeSafetensors(src.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
    Files.writeString(src.resolve("config.json"), "{\"hidden_size\": 512}\n");
    return src;
  }

  /** Opens (creating) a store. */
  public static Repository open(String uri) throws IOException {
    return Ferry.open(uri, StoreOptions.createIfMissing(), RepositoryOptions.defaults());
  }

  /** Pushes a directory. */
  public static void push(Repository repo, Path dir, String target) throws IOException {
    repo.push(dir, target, PushOptions.builder().message("push " + target).build());
  }
}
