package io.ferry.format;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * A tensor file format: recognises its files and reads each into a {@link FileLayout}. Formats are found by
 * {@link java.util.ServiceLoader} (besides Ferry's built-in ones), so an implementation needs a public no-argument
 * constructor and a line in {@code META-INF/services/io.ferry.format.TensorFormat}. Implementations are stateless and
 * thread-safe: one instance reads many files at once.
 *
 * <p>How a file is matched (see {@code docs/formats.md}): a format whose {@link #extensions()} end the file's name
 * reads it, and its verdict is final; a file whose name no format claims is offered to each format's
 * {@link #recognises}; a file no format claims is opaque (content-defined chunks).
 *
 * <p>What the layout decides is part of the storage format: chunk boundaries follow its regions and snapshots record
 * its tensors and metadata, so the same bytes must give the same layout in every Ferry version.
 */
public interface TensorFormat {
  /**
   * The format's name, recorded in snapshots as the file's format: lower case letters, digits, {@code -} and
   * {@code _}; never {@code opaque}; unique among the formats of a registry; never changed once files were stored.
   */
  String name();

  /**
   * File-name endings this format claims, with the dot ({@code .safetensors}), matched case-sensitively against the
   * file's name. A file ending so is read by this format, and a defect is an error, whatever its bytes. No two formats
   * of a registry may claim the same ending. May be empty.
   */
  Set<String> extensions();

  /**
   * Whether these first bytes of a file whose name no format claims identify this format beyond doubt (a magic number
   * the format reserves, plus whatever header check that needs). A yes commits the file to {@link #read}, and a defect
   * it finds then rejects the push, so a format without a reliable magic (safetensors, ONNX) keeps the default: no.
   *
   * @param head the first {@code min(size, PROBE_BYTES)} bytes of the file (4096), read-only, position 0
   * @param size the size of the whole file
   */
  default boolean recognises(ByteBuffer head, long size) {
    return false;
  }

  /**
   * Reads and validates the whole structure of a file (not the tensor data) and returns its layout.
   *
   * @return a layout with {@code format() == name()} and {@code size() == in.size()}
   * @throws io.ferry.error.InvalidInputException if the file breaks a rule of the format; the message starts with
   *     {@code in.name() + ": "} and names the tensor or offset and the defect
   * @throws IOException if the file cannot be read
   */
  FileLayout read(FormatInput in) throws IOException;
}
