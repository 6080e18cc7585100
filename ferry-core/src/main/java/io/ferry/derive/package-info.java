/**
 * Lossy derivations: new versions made from a stored version by casting float tensors ({@link
 * io.ferry.derive.DeriveSpec.Cast}), quantizing them to grouped 8- or 4-bit integers ({@link
 * io.ferry.derive.DeriveSpec.Quantize}, layout in {@link io.ferry.derive.QuantLayout}), restoring them ({@link
 * io.ferry.derive.DeriveSpec.Dequantize}) or magnitude pruning ({@link io.ferry.derive.DeriveSpec.Prune}). Each method
 * is a tensor transform (plan a tensor, then transform it block by block) that the {@link io.ferry.derive.Deriver}
 * drives; each derivation records error metrics per tensor and overall in a {@link
 * io.ferry.derive.DerivationReport}; {@link io.ferry.derive.Lineage} is the derivation graph across models. See
 * {@code docs/derivations.md}.
 */
package io.ferry.derive;
