package io.ferry.onnx;

import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.TensorFormat;
import java.io.IOException;
import java.util.Set;

/**
 * ONNX models as a {@link TensorFormat}: files ending in {@code .onnx}, read by their name only (a protobuf has no
 * magic number). The layout lists each initializer of the main graph whose data is in the file ({@code raw_data},
 * or packed {@code float_data}/{@code double_data}) as a tensor region at its bytes' absolute offsets, with
 * {@code dataStart} 0; every other byte (graph, nodes, other initializers) is header. Initializers in external files
 * are recorded in {@link OnnxMetadata} and checked by {@link OnnxExternalDataFormat}. Stateless and thread-safe;
 * registered through {@code META-INF/services/io.ferry.format.TensorFormat}.
 */
public final class OnnxFormat implements TensorFormat {
  /** The format's name, as snapshots record it. */
  public static final String NAME = "onnx";

  /** Creates the format; it holds no state. */
  public OnnxFormat() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> extensions() {
    return Set.of(".onnx");
  }

  /**
   * @throws io.ferry.error.InvalidInputException for a file that is not a valid ONNX protobuf, an initializer whose
   *     data does not match its shape and type, duplicate or missing names, or an external data location that leaves
   *     the model's directory
   */
  @Override
  public FileLayout read(FormatInput in) throws IOException {
    return OnnxReader.read(in);
  }
}
