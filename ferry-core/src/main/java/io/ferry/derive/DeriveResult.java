package io.ferry.derive;

import io.ferry.id.ChunkId;
import io.ferry.repo.Results.PushResult;
import java.util.List;
import java.util.Objects;

/**
 * The outcome of a derivation. Immutable.
 *
 * @param push the push of the derived version
 * @param report what was done to each tensor, as stored in the derived version
 * @param sourceTensorBytes bytes of the source's tensors read (changed and kept)
 * @param deriveNanos time spent reading, transforming and writing the derived files (a measurement, not logic)
 * @param pushNanos time spent pushing them
 */
public record DeriveResult(PushResult push, DerivationReport report, long sourceTensorBytes, long deriveNanos,
    long pushNanos) {
  public DeriveResult {
    Objects.requireNonNull(push, "push");
    Objects.requireNonNull(report, "report");
  }

  /** The source version. */
  public ChunkId source() {
    return report.source();
  }

  /** The version the error was measured against when it is not the source (a dequantization's original), or null. */
  public ChunkId sourceTarget() {
    return report.comparedWith();
  }

  /** The metrics over every changed tensor together. */
  public MetricFigures overall() {
    return report.overall();
  }

  /** One report per source tensor, in file order. */
  public List<TensorReport> tensors() {
    return report.tensors();
  }

  public long changedCount() {
    return report.changedCount();
  }
}
