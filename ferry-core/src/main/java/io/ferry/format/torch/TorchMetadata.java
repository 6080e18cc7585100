package io.ferry.format.torch;

import io.ferry.format.FormatMetadata;
import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What a snapshot records of a PyTorch checkpoint besides its tensor table: each non-tensor value as JSON under
 * {@code value.<dotted path>} ({@code value.epoch = 3}, {@code value.optimizer.param_groups = [{"lr":0.001,…}]}), and
 * for each tensor that is not a row-major run of its storage (a transposed or strided view) its strides in elements
 * under {@code strides.<name>} ({@code [1,3]}): its table entry then gives the bytes it spans, not its bytes in order.
 *
 * @param values JSON by dotted path
 * @param strides strides by tensor name, for the tensors that are not contiguous
 */
public record TorchMetadata(SortedMap<String, String> values, SortedMap<String, String> strides)
    implements FormatMetadata {
  /** The key prefix of non-tensor values. */
  public static final String VALUE = "value.";
  /** The key prefix of the strides of views that are not contiguous. */
  public static final String STRIDES = "strides.";

  /**
   * The strides recorded in a snapshot for tensor {@code name} of a file of format {@code format} whose metadata
   * strings are {@code metadata}, or null when the tensor is a row-major run of its bytes. Only a checkpoint's
   * metadata is read so: another format's metadata is the file's own text (a safetensors {@code __metadata__} may hold
   * any key, {@code strides.w} too), which says nothing of how its tensors lie.
   */
  public static String strides(String format, Map<String, String> metadata, String name) {
    return TorchFormat.NAME.equals(format) ? metadata.get(STRIDES + name) : null;
  }

  public TorchMetadata {
    values = Collections.unmodifiableSortedMap(new TreeMap<>(values));
    strides = Collections.unmodifiableSortedMap(new TreeMap<>(strides));
  }

  @Override
  public Map<String, String> asStrings() {
    SortedMap<String, String> out = new TreeMap<>();
    values.forEach((k, v) -> out.put(VALUE + k, v));
    strides.forEach((k, v) -> out.put(STRIDES + k, v));
    return Collections.unmodifiableSortedMap(out);
  }
}
