/**
 * Model file formats as Ferry sees them, and the SPI a format implements. A {@link io.ferry.format.TensorFormat}
 * recognises its files (by name or first bytes) and reads each into a {@link io.ferry.format.FileLayout}: the byte
 * ranges ({@link io.ferry.format.Region}) of its header, padding and tensors, covering the file exactly, plus typed
 * {@link io.ferry.format.FormatMetadata}. A {@link io.ferry.format.DirectoryFormat} checks files that belong together
 * (an index and its shards). Element types are {@link io.ferry.format.DType}; tensor tables as snapshots record them
 * are {@link io.ferry.format.TensorInfo}.
 *
 * <p>Formats validate their input completely before anything else looks at it; every defect is reported as an
 * {@link io.ferry.error.InvalidInputException} naming the file, the tensor or offset, and the rule broken. This
 * package and its sub-packages depend on no other Ferry package but {@code io.ferry.error}: chunking and snapshots
 * depend on layouts, never the other way. See {@code docs/formats.md}.
 */
package io.ferry.format;
