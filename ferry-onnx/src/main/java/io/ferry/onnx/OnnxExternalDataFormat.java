package io.ferry.onnx;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatMetadata;
import io.ferry.format.ModelTree;
import io.ferry.format.Region;
import io.ferry.format.TensorInfo;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Checks ONNX models against their external data: for every initializer an {@code .onnx} file keeps in another file,
 * that file must be a file of the pushed model, in the {@code .onnx} file's directory or below it, not reached through a
 * symbolic link that leads out of the model's directory, and the initializer's bytes ({@code offset}, and its shape's
 * byte length) must lie inside it.
 *
 * <p>A data file is then given a layout of format {@value #DATA_FORMAT} ({@link #layouts}): each initializer in it is a
 * tensor region under its name, so the file is cut at tensors (a fine-tune re-exported to ONNX shares its unchanged
 * initializers), compressed by dtype, and its tensors are read by name like any file's. The file stays opaque
 * (content-defined chunks) when that cannot be exact: an initializer of a type Ferry has no dtype for (INT4), two that
 * overlap, the file used by more than one {@code .onnx} file or by one under two names. Stateless; registered
 * through {@code META-INF/services/io.ferry.format.DirectoryFormat}.
 */
public final class OnnxExternalDataFormat implements DirectoryFormat {
  /** Creates the format; it holds no state. */
  public OnnxExternalDataFormat() {}

  /** The format of an external data file cut at its initializers. */
  public static final String DATA_FORMAT = "onnx-data";

  @Override
  public String name() {
    return "onnx-external-data";
  }

  /** An initializer of an {@code .onnx} file kept in another file of the model, at {@code path}. */
  private record Ref(ModelTree.Entry model, OnnxMetadata.External x, String path) {}

  /** Every external initializer of the tree's {@code .onnx} files, by model then initializer. */
  private static List<Ref> refs(ModelTree tree) {
    List<Ref> out = new ArrayList<>();
    for (ModelTree.Entry f : tree.files()) {
      OnnxMetadata m = f.hasFormat(OnnxFormat.NAME) ? f.layout().metadata(OnnxMetadata.class).orElse(null) : null;
      if (m != null) {
        for (OnnxMetadata.External x : m.external()) {
          out.add(new Ref(f, x, f.directory() + x.location()));
        }
      }
    }
    return out;
  }

  private static Map<String, ModelTree.Entry> byPath(ModelTree tree) {
    Map<String, ModelTree.Entry> byPath = new HashMap<>();
    for (ModelTree.Entry e : tree.files()) {
      byPath.put(e.path(), e);
    }
    return byPath;
  }

  @Override
  public Map<String, FileLayout> layouts(ModelTree tree) throws IOException {
    Map<String, ModelTree.Entry> byPath = byPath(tree);
    // every data file's initializers, and which .onnx files point into it
    Map<String, List<OnnxMetadata.External>> byFile = new TreeMap<>();
    Map<String, Set<String>> users = new HashMap<>();
    for (Ref r : refs(tree)) {
      byFile.computeIfAbsent(r.path(), k -> new ArrayList<>()).add(r.x());
      users.computeIfAbsent(r.path(), k -> new HashSet<>()).add(r.model().path());
    }
    Map<String, FileLayout> out = new HashMap<>();
    for (Map.Entry<String, List<OnnxMetadata.External>> e : byFile.entrySet()) {
      ModelTree.Entry data = byPath.get(e.getKey());
      if (data == null || data.layout() != null || users.get(e.getKey()).size() != 1) {
        continue;
      }
      FileLayout l = dataLayout(data, e.getValue(), users.get(e.getKey()).iterator().next());
      if (l != null) {
        out.put(data.path(), l);
      }
    }
    return out;
  }

  /** The data file cut at its initializers, or null when it cannot be exactly (see the class comment). */
  private static FileLayout dataLayout(ModelTree.Entry data, List<OnnxMetadata.External> xs, String model) {
    List<OnnxMetadata.External> sorted = new ArrayList<>(xs);
    sorted.sort(Comparator.comparingLong(OnnxMetadata.External::offset)
        .thenComparing(OnnxMetadata.External::name));
    Set<String> names = new HashSet<>();
    List<Region> regions = new ArrayList<>();
    long at = 0;
    for (OnnxMetadata.External x : sorted) {
      if (!x.initializer() || x.dtype() == null || x.length() < 0 || x.offset() < at || !names.add(x.name())) {
        return null;
      }
      if (x.offset() > at) {
        regions.add(new Region.Header(at, x.offset()));
      }
      TensorInfo t = new TensorInfo(x.name(), x.dtype(), x.shape(), x.offset(), x.offset() + x.length());
      regions.add(Region.Tensor.of(t, 0));
      at = x.offset() + x.length();
    }
    if (data.size() > at) {
      regions.add(new Region.Header(at, data.size()));
    }
    return new FileLayout(DATA_FORMAT, data.path(), data.size(), 0, regions, new DataMetadata(model, xs.size()));
  }

  /**
   * What the snapshot records of a data file besides its tensors: the {@code .onnx} file whose initializers it holds,
   * and how many.
   */
  record DataMetadata(String model, int initializers) implements FormatMetadata {
    @Override
    public Map<String, String> asStrings() {
      return Map.of("model", model, "initializers", Integer.toString(initializers));
    }
  }

  @Override
  public void check(ModelTree tree) throws IOException {
    Map<String, ModelTree.Entry> byPath = byPath(tree);
    for (Ref r : refs(tree)) {
      ModelTree.Entry f = r.model();
      OnnxMetadata.External x = r.x();
      String path = r.path();
      ModelTree.Entry data = byPath.get(path);
      if (data == null && tree.files().stream().anyMatch(e -> e.path().startsWith(path + "/"))) {
        throw new InvalidInputException(f.path() + ": " + x.what() + ": its external data file '" + x.location()
            + "' is a directory of the model, not a file (onnx and onnxruntime cannot read data from a directory)");
      }
      if (data == null) {
        String leftOut = tree.leftOut(path);
        throw new InvalidInputException(f.path() + ": " + x.what() + ": its external data file '"
            + x.location() + "' is not a file of the model (expected " + path
            + (leftOut != null ? "; it is " + leftOut : "") + ")");
      }
      if (tree.linksOutside(path)) {
        throw new InvalidInputException(f.path() + ": " + x.what() + ": its external data file "
            + path + " is a symbolic link (or lies under one) that leads out of the model's directory; external "
            + "data must lie in it");
      }
      if (x.offset() > data.size() || x.length() > data.size() - x.offset()) {
        String bytes = x.length() < 0 ? "data" : x.length() + " bytes";
        throw new InvalidInputException(f.path() + ": " + x.what() + ": " + bytes
            + " at offset " + x.offset() + " of " + path + " run past its end (" + data.size() + " bytes)");
      }
    }
  }
}
