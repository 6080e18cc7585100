/**
 * ONNX models as a {@link io.ferry.format.TensorFormat} ({@link io.ferry.onnx.OnnxFormat}): the initializers of a
 * model's graph become tensor regions of the {@code .onnx} file, and {@link io.ferry.onnx.OnnxExternalDataFormat}
 * checks the external data files they point into. Kept out of ferry-core because it needs protobuf-java; found by
 * {@link java.util.ServiceLoader}. See {@code docs/formats.md}.
 */
package io.ferry.onnx;
