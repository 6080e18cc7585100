package io.ferry.format;

import java.io.IOException;
import java.util.Map;

/**
 * A format that spans several files of a model and is checked across them once each file was read on its own: the
 * Hugging Face shard index against its shards ({@link io.ferry.format.hf.HfIndexFormat}); a sharded GGUF's
 * {@code split.*} keys against the other splits; an ONNX model against the external data files its initializers
 * point into, which it then gives layouts cut at those initializers ({@link #layouts}). Found by
 * {@link java.util.ServiceLoader} like {@link TensorFormat} ({@code META-INF/services/io.ferry.format.DirectoryFormat});
 * stateless and thread-safe.
 */
public interface DirectoryFormat {
  /** A short name for messages and listings, unique among the directory formats of a registry. */
  String name();

  /**
   * Checks the files this format spans; files it does not recognise are left alone. Runs before anything is written,
   * so a defect found here rejects the push.
   *
   * @throws io.ferry.error.InvalidInputException naming the file that describes the set (the index, the first split)
   *     and every defect found
   * @throws IOException if a file cannot be read
   */
  void check(ModelTree tree) throws IOException;

  /**
   * Layouts for files of the tree that no single-file format read (opaque), which this format reads through the files
   * that point into them: an ONNX model's external data file, cut at its initializers. Runs after every
   * {@link #check}; a file a layout is given for must be opaque in the tree and of the layout's size. The default:
   * none.
   *
   * @return layouts by path
   * @throws IOException if a file cannot be read
   */
  default Map<String, FileLayout> layouts(ModelTree tree) throws IOException {
    return Map.of();
  }
}
