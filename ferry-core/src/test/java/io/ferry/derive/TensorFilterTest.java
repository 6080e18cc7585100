package io.ferry.derive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class TensorFilterTest {
  @Test
  void regexesAreSearchedInNames() throws Exception {
    TensorFilter f = TensorFilter.of("layers\\.\\d+\\..*proj", "v_proj$");
    assertThat(f.rejects("model.layers.3.self_attn.q_proj.weight")).isNull();
    assertThat(f.rejects("model.embed_tokens.weight")).isEqualTo("not matched by --include 'layers\\.\\d+\\..*proj'");
    assertThat(f.rejects("model.layers.3.self_attn.v_proj")).isEqualTo("excluded by --exclude 'v_proj$'");
  }

  /**
   * Tensor names come from the store, up to thousands of characters: an ordinary regex that backtracks on such a name
   * stalled the derivation (about 10^10 steps for this one); the search now gives up, naming the regex and tensor.
   */
  @Test
  void aSearchThatBacktracksPastItsBudgetIsRefusedNamingTheRegexAndTheTensor() throws Exception {
    String name = "layers".repeat(680);
    TensorFilter f = TensorFilter.of(".*layers.*proj.*", null);
    DerivationInputException e = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      try {
        f.rejects(name);
        return null;
      } catch (DerivationInputException x) {
        return x;
      }
    });
    assertThat(e).isNotNull();
    assertThat(e.getMessage()).startsWith("include '.*layers.*proj.*' gave up on tensor '" + name.substring(0, 80)
        + "... (4080 characters)' after looking at " + TensorFilter.STEPS + " characters");
    assertThatThrownBy(() -> TensorFilter.of(null, ".*layers.*proj.*").rejects(name))
        .isInstanceOf(DerivationInputException.class).hasMessageStartingWith("exclude '.*layers.*proj.*' gave up");
    // the same regex on names of ordinary length is well within the budget
    assertThat(f.rejects("model.layers.0.mlp.up_proj.weight")).isNull();
    assertThat(f.rejects("layers".repeat(30))).isNotNull();
  }
}
