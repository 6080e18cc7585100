package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Store layers from the command line: the test fault injector ({@code faults}, from ferry-testkit) stacked over the
 * local store by {@code --store-option layers=faults}, as a cache tier will be stacked over any store.
 */
class StoreLayersCliTest {
  @TempDir Path tmp;

  private Path model(String name, long seed) throws Exception {
    List<Tensor> ts = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      ts.add(new Tensor("w" + i, DType.BF16, new long[] {256, 1024}, seed + i));
    }
    Path src = tmp.resolve(name + ".safetensors");
    ModelGenerator.writeSafetensors(src, ts, Map.of());
    return src;
  }

  @Test
  void aPushOverAFullDiskLayerFailsNamingItAndLeavesTheStoreAsItWas() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("first", 1), "m");
    Map<String, String> before = cli.state();
    Cli.Result r = cli.run("push", model("second", 100).toString(), "m", "--store-option", "layers=faults",
        "--store-option", "faults.fail-after-bytes=1000000", "--codec", "none");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("No space left");
    assertThat(cli.state()).isEqualTo(before);
    assertThat(cli.run("verify").code()).isZero();
  }

  @Test
  void aReadThroughACorruptingLayerIsAnIntegrityFailure() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("first", 1), "m");
    Cli.Result r = cli.run("pull", "m", tmp.resolve("out").toString(), "--store-option", "layers=faults",
        "--store-option", "faults.corrupt-reads-seed=7");
    assertThat(r.code()).as(r.err()).isEqualTo(3);
    assertThat(cli.run("pull", "m", tmp.resolve("out2").toString()).code()).as("the store itself is intact").isZero();
  }

  @Test
  void anUnknownLayerIsABadInput() throws Exception {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Cli.Result r = cli.run("ls", "--store-option", "layers=nope");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("'nope'").contains("faults");
  }

  @Test
  void initWithAnUnknownLayerCreatesNoStore() throws Exception {
    Path store = tmp.resolve("store");
    Cli.Result r = Cli.raw("init", "--store", store.toString(), "--store-option", "layers=nope");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("'nope'");
    assertThat(store).doesNotExist();
    r = Cli.raw("init", "--store", store.toUri() + "?layers=faults,nope");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(store).doesNotExist();
  }

  @Test
  void aFileUriRefusesQueryOptionsOtherThanLayersAndCreatesNothing() throws Exception {
    Path store = tmp.resolve("store");
    Cli.Result r = Cli.raw("init", "--store", store.toUri() + "?layres=faults");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err()).contains("'layres'").contains("layers").contains(store.toUri().toString());
    assertThat(store).doesNotExist();
    // an option given twice: the last one won without a word
    Cli.Result twice = Cli.raw("init", "--store", store.toUri() + "?layers=faults&layers=");
    assertThat(twice.code()).as(twice.err()).isEqualTo(1);
    assertThat(twice.err()).contains("'layers' is given twice; give it once");
    assertThat(store).doesNotExist();
    Cli.raw("init", "--store", store.toUri() + "?layers=").ok();
    assertThat(Cli.raw("ls", "--store", store.toUri() + "?layers=faults").code()).isZero();
  }
}
