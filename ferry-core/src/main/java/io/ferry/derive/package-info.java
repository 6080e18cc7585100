/**
 * Lossy derivations: new versions made from a stored version by casting float tensors ({@link Deriver}, {@link
 * DeriveSpec.Cast}), quantizing them to grouped 8- or 4-bit integers ({@link DeriveSpec.Quantize}, layout in {@link
 * QuantLayout}), restoring them ({@link DeriveSpec.Dequantize}) or magnitude pruning ({@link DeriveSpec.Prune}); each
 * with error metrics per tensor and overall ({@link ErrorMetrics}), and the lineage graph across models ({@link
 * Lineage}). See {@code docs/derivations.md}.
 */
package io.ferry.derive;
