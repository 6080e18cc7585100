package io.ferry.onnx;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.ModelTree;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * Checks ONNX models against their external data: for every initializer an {@code .onnx} file keeps in another file,
 * that file must be a file of the pushed model, in the {@code .onnx} file's directory or below it, not reached through a
 * symbolic link that leads out of the model's directory, and the initializer's bytes ({@code offset}, and its shape's byte length) must lie inside it. The data files themselves stay
 * opaque (content-defined chunks). Stateless; registered through
 * {@code META-INF/services/io.ferry.format.DirectoryFormat}.
 */
public final class OnnxExternalDataFormat implements DirectoryFormat {
  /** Creates the format; it holds no state. */
  public OnnxExternalDataFormat() {}

  @Override
  public String name() {
    return "onnx-external-data";
  }

  @Override
  public void check(ModelTree tree) throws IOException {
    Map<String, ModelTree.Entry> byPath = new HashMap<>();
    for (ModelTree.Entry e : tree.files()) {
      byPath.put(e.path(), e);
    }
    for (ModelTree.Entry f : tree.files()) {
      if (!f.hasFormat(OnnxFormat.NAME)) {
        continue;
      }
      OnnxMetadata m = f.layout().metadata(OnnxMetadata.class).orElse(null);
      if (m == null) {
        continue;
      }
      for (OnnxMetadata.External x : m.external()) {
        String path = f.directory() + x.location();
        ModelTree.Entry data = byPath.get(path);
        if (data == null) {
          throw new InvalidInputException(f.path() + ": initializer '" + x.name() + "': its external data file '"
              + x.location() + "' is not a file of the model (expected " + path + ")");
        }
        if (tree.linksOutside(path)) {
          throw new InvalidInputException(f.path() + ": initializer '" + x.name() + "': its external data file "
              + path + " is a symbolic link (or lies under one) that leads out of the model's directory; external "
              + "data must lie in it");
        }
        if (x.offset() > data.size() || x.length() > data.size() - x.offset()) {
          String bytes = x.length() < 0 ? "data" : x.length() + " bytes";
          throw new InvalidInputException(f.path() + ": initializer '" + x.name() + "': " + bytes
              + " at offset " + x.offset() + " of " + path + " run past its end (" + data.size() + " bytes)");
        }
      }
    }
  }
}
