package io.ferry.derive;

import io.ferry.format.DType;
import java.util.List;
import java.util.Objects;

/**
 * What a derivation did to one source tensor. Immutable.
 *
 * @param name the source tensor
 * @param action what was done
 * @param reason why a tensor was kept (null otherwise)
 * @param sourceDtype its dtype in the source
 * @param shape its (logical) shape
 * @param outputs the tensors written for it, each with its dtype, e.g. {@code W} (I8) and {@code W.scale} (F32)
 * @param metrics error against the source, null for kept tensors
 * @param compared whether metrics compare with source values (false: only sparsity is known)
 */
public record TensorReport(String name, Action action, String reason, DType sourceDtype, List<Long> shape,
    List<Output> outputs, ErrorMetrics metrics, boolean compared) {
  public TensorReport {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(action, "action");
    shape = List.copyOf(shape);
    outputs = List.copyOf(outputs);
  }

  /** What a derivation did to a tensor; {@link #label()} is how reports and the CLI spell it. */
  public enum Action {
    CAST, QUANTIZED, DEQUANTIZED, PRUNED, KEPT;

    /** The lower-case name used in {@code ferry-derivation.json}. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** One tensor written for a source tensor. */
  public record Output(String name, DType dtype, List<Long> shape) {
    public Output {
      shape = List.copyOf(shape);
    }
  }

  public boolean changed() {
    return action != Action.KEPT;
  }
}
