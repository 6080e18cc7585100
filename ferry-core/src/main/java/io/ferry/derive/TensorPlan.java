package io.ferry.derive;

import io.ferry.derive.TensorReport.Action;
import io.ferry.derive.TensorReport.Output;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.util.List;
import java.util.Objects;

/**
 * What a derivation does to one source tensor, decided by a {@link TensorTransform} before anything is read or
 * written. Immutable.
 *
 * @param source the source tensor
 * @param action what is done to it
 * @param reason why it is kept ({@link Action#KEPT} only), else null
 * @param sourceDtype the dtype the report gives for it (for a dequantized tensor: its stored, quantized dtype)
 * @param shape its logical shape (for a dequantized tensor: its shape before quantization)
 * @param inputs the tensors of the source version read for it, {@code source} first (a dequantized tensor also reads
 *     its scales and zero points); all have the same number of rows
 * @param reference a tensor of the comparison version holding the values to measure the error against, when the
 *     source's own values are not those (a dequantized tensor's are integers); else null
 * @param compared false when the error cannot be measured, only sparsity (a dequantized tensor without reference)
 * @param outputs the tensors written for it, in order, each with as many rows as the inputs
 */
record TensorPlan(TensorInfo source, Action action, String reason, DType sourceDtype, List<Long> shape,
    List<TensorInfo> inputs, TensorInfo reference, boolean compared, List<Output> outputs) {
  TensorPlan {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(sourceDtype, "sourceDtype");
    shape = List.copyOf(shape);
    inputs = List.copyOf(inputs);
    outputs = List.copyOf(outputs);
    if (inputs.isEmpty() || !inputs.get(0).equals(source)) {
      throw new IllegalArgumentException("tensor '" + source.name() + "': the source must be the first input");
    }
    if ((action == Action.KEPT) != (reason != null)) {
      throw new IllegalArgumentException("tensor '" + source.name() + "': a reason is given for kept tensors only");
    }
  }

  /** The tensor is written as it is, for {@code reason}. */
  static TensorPlan kept(TensorInfo t, String reason) {
    return new TensorPlan(t, Action.KEPT, Objects.requireNonNull(reason, "reason"), t.dtype(), t.shape(), List.of(t),
        null, true, List.of(new Output(t.name(), t.dtype(), t.shape())));
  }

  /** The tensor is changed into {@code outputs}, measured against its own values. */
  static TensorPlan changed(TensorInfo t, Action action, List<Output> outputs) {
    return new TensorPlan(t, action, null, t.dtype(), t.shape(), List.of(t), null, true, outputs);
  }

  boolean changes() {
    return action != Action.KEPT;
  }

  /** Elements of the logical shape. */
  long elements() {
    long n = 1;
    for (long d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** The report of this tensor, planned as changed but written byte for byte as it was, kept for {@code why}. */
  TensorReport keptReport(String why) {
    return new TensorReport(source.name(), Action.KEPT, Objects.requireNonNull(why, "why"), sourceDtype, shape,
        outputs, null, compared);
  }

  /** The report of this tensor once derived, with its metrics (null when kept). */
  TensorReport report(MetricFigures metrics) {
    return new TensorReport(source.name(), action, reason, sourceDtype, shape, outputs, metrics, compared);
  }
}
