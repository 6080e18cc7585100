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
 * <p>The map stays within the metadata limits a push checks ({@link TorchLimits#METADATA_ENTRIES} entries, keys and
 * characters): when all of
 * it does not fit, the strides come first, in name order, and those past the room left (or from the first whose key
 * is too long) are counted in {@code views.unrecorded}, with the name of the first of them in
 * {@code views.unrecorded.from}; a tensor from that name on without strides of its own is not known to be
 * contiguous ({@link #strides}). The values fill what room is left, those that do not fit counted in
 * {@code values.unrecorded}. A checkpoint within the limits is recorded as before.
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
  /** The key counting the views whose strides did not fit; no tensor's {@code strides.} key can be it. */
  static final String VIEWS_UNRECORDED = "views.unrecorded";
  /** The key giving the name of the first view whose strides did not fit. */
  static final String VIEWS_UNRECORDED_FROM = "views.unrecorded.from";
  /** The key counting the values that did not fit; no {@code value.} key can be it. */
  static final String VALUES_UNRECORDED = "values.unrecorded";
  /**
   * What {@link #strides} gives for a tensor whose strides may not have been recorded: no list of strides, so that
   * no caller can take it for one.
   */
  public static final String UNRECORDED = "unrecorded";
  /**
   * Room kept for the three counting entries, in characters: their keys and texts, and a tensor name of up to the
   * 4,096 characters a push accepts.
   */
  private static final int COUNTS_CHARS = 3 * 512 + 4096;

  /**
   * The strides recorded in a snapshot for tensor {@code name} of a file of format {@code format} whose metadata
   * strings are {@code metadata}, or null when the tensor is a row-major run of its bytes. Only a checkpoint's
   * metadata is read so: another format's metadata is the file's own text (a safetensors {@code __metadata__} may hold
   * any key, {@code strides.w} too), which says nothing of how its tensors lie. {@link #UNRECORDED} for a tensor
   * without strides of its own named from {@code views.unrecorded.from} on, which may be a view whose strides did not
   * fit the metadata.
   */
  public static String strides(String format, Map<String, String> metadata, String name) {
    if (!TorchFormat.NAME.equals(format)) {
      return null;
    }
    String s = metadata.get(STRIDES + name);
    String from = s == null ? metadata.get(VIEWS_UNRECORDED_FROM) : null;
    return from != null && name.compareTo(from) >= 0 ? UNRECORDED : s;
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
    if (fits(out)) {
      return Collections.unmodifiableSortedMap(out);
    }
    // a checkpoint with more non-tensor leaves or views than the metadata holds entries (an optimizer's state, a
    // scheduler's) was refused at push; the strides, which reads need, come first, and what does not fit is counted
    out.clear();
    int room = TorchLimits.METADATA_ENTRIES - 3;
    long chars = TorchLimits.METADATA_CHARS - COUNTS_CHARS;
    String from = null;
    int views = 0;
    for (Map.Entry<String, String> e : strides.entrySet()) {
      String key = STRIDES + e.getKey();
      long size = key.length() + e.getValue().length();
      if (from == null && key.length() <= TorchLimits.METADATA_KEY_CHARS && room > 0 && size <= chars) {
        out.put(key, e.getValue());
        room--;
        chars -= size;
      } else {
        from = from == null ? e.getKey() : from;
        views++;
      }
    }
    int left = 0;
    for (Map.Entry<String, String> e : values.entrySet()) {
      String key = VALUE + e.getKey();
      long size = key.length() + e.getValue().length();
      if (key.length() <= TorchLimits.METADATA_KEY_CHARS && room > 0 && size <= chars) {
        out.put(key, e.getValue());
        room--;
        chars -= size;
      } else {
        left++;
      }
    }
    String limits = "the metadata holds at most " + TorchLimits.METADATA_ENTRIES + " entries, keys of "
        + TorchLimits.METADATA_KEY_CHARS + " characters and " + TorchLimits.METADATA_CHARS + " characters in all";
    if (views > 0) {
      out.put(VIEWS_UNRECORDED, views + " more non-contiguous views whose strides are not recorded (reading one of"
          + " them, or any tensor named from views.unrecorded.from on without strides, is refused; " + limits + ")");
      out.put(VIEWS_UNRECORDED_FROM, from);
    }
    if (left > 0) {
      out.put(VALUES_UNRECORDED, left + " more non-tensor values not recorded (the file's bytes hold them; "
          + limits + ")");
    }
    return Collections.unmodifiableSortedMap(out);
  }

  private static boolean fits(Map<String, String> m) {
    if (m.size() > TorchLimits.METADATA_ENTRIES) {
      return false;
    }
    long chars = 0;
    for (Map.Entry<String, String> e : m.entrySet()) {
      if (e.getKey().length() > TorchLimits.METADATA_KEY_CHARS) {
        return false;
      }
      chars += e.getKey().length() + e.getValue().length();
    }
    return chars <= TorchLimits.METADATA_CHARS;
  }
}
