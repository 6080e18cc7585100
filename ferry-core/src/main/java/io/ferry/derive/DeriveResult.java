package io.ferry.derive;

import io.ferry.chunk.ChunkId;
import io.ferry.repo.Results.PushResult;
import java.util.List;

/**
 * The outcome of a derivation. Immutable.
 *
 * @param push the push of the derived version
 * @param source the source version
 * @param sourceTarget the original version a dequantization compared with, or null
 * @param overall the metrics over every changed tensor together
 * @param tensors one report per source tensor, in file order
 * @param sourceTensorBytes bytes of the source's tensors read (changed and kept)
 * @param deriveNanos time spent reading, transforming and writing the derived files (a measurement, not logic)
 * @param pushNanos time spent pushing them
 */
public record DeriveResult(PushResult push, ChunkId source, ChunkId sourceTarget, ErrorMetrics overall,
    List<TensorReport> tensors, long sourceTensorBytes, long deriveNanos, long pushNanos) {
  public DeriveResult {
    tensors = List.copyOf(tensors);
  }

  public long changedCount() {
    return tensors.stream().filter(TensorReport::changed).count();
  }
}
