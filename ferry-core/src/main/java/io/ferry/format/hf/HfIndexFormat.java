package io.ferry.format.hf;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.FileLayout;
import io.ferry.format.ModelTree;
import io.ferry.format.safetensors.SafetensorsFormat;
import io.ferry.format.safetensors.SafetensorsHeader;
import io.ferry.format.safetensors.SafetensorsMetadata;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The sharded Hugging Face checkpoint as a {@link DirectoryFormat}: each index, {@value HfIndex#FILE_NAME} or any
 * other {@code *}{@value HfIndex#SUFFIX} (diffusers' {@code diffusion_pytorch_model.safetensors.index.json}), wherever
 * it is in the model, is read and checked ({@link HfIndex#check}) against the safetensors files under its directory;
 * shards listed by another index of the same directory are not this one's concern. A PyTorch index
 * ({@code *}{@value #BIN_SUFFIX}) is read as strictly, and the shards it lists must be files of the model. The
 * index itself stays an opaque file; its shards were read as safetensors files on their own.
 *
 * <p>Errors: those of reading an index name it by its base name; those of the check name it by its path in the model.
 */
public final class HfIndexFormat implements DirectoryFormat {
  /** How the name of a PyTorch shard index ends ({@code pytorch_model.bin.index.json}). */
  static final String BIN_SUFFIX = ".bin.index.json";

  /** Creates the format; it holds no state. */
  public HfIndexFormat() {}

  @Override
  public String name() {
    return "hf-index";
  }

  @Override
  public void check(ModelTree tree) throws IOException {
    Map<ModelTree.Entry, HfIndex> indexes = new LinkedHashMap<>();
    for (ModelTree.Entry f : tree.files()) {
      if (f.baseName().endsWith(HfIndex.SUFFIX)) {
        try (FileChannel ch = tree.open(f.path())) {
          indexes.put(f, HfIndex.read(f.path(), ch));
        }
      }
    }
    for (ModelTree.Entry f : tree.files()) {
      if (f.baseName().endsWith(BIN_SUFFIX)) {
        checkBinIndex(tree, f);
      }
    }
    for (Map.Entry<ModelTree.Entry, HfIndex> e : indexes.entrySet()) {
      // shards another index of the same directory lists (diffusers keeps fp16 and fp32 variants side by side)
      Set<String> others = new HashSet<>();
      indexes.forEach((f, other) -> {
        if (f != e.getKey() && f.directory().equals(e.getKey().directory())) {
          others.addAll(other.shards());
        }
      });
      check(tree, e.getKey(), e.getValue(), others);
    }
  }

  private static void check(ModelTree tree, ModelTree.Entry indexEntry, HfIndex index, Set<String> others)
      throws IOException {
    String dir = indexEntry.directory();
    // the index's own directory and the shards it lists: a model in a subdirectory that the index does not name
    // (a draft model, a text encoder) is another model, even if its tensors have the same names
    Map<String, SafetensorsHeader> shards = new HashMap<>();
    List<String> present = new ArrayList<>();
    Set<String> listed = index.shards();
    for (ModelTree.Entry f : tree.files()) {
      if (f.hasFormat(SafetensorsFormat.NAME) && f.path().startsWith(dir)) {
        String rel = f.path().substring(dir.length());
        boolean here = !rel.contains("/") && !others.contains(rel);
        if (here || listed.contains(rel)) {
          shards.put(rel, header(f.layout()));
        }
        if (here) {
          present.add(rel);
        }
      }
    }
    Map<String, ModelTree.Entry> byPath = new HashMap<>();
    tree.files().forEach(f -> byPath.put(f.path(), f));
    java.util.function.Function<String, String> whyMissing = shard -> {
      if (byPath.containsKey(dir + shard)) {
        ModelTree.Entry f = byPath.get(dir + shard);
        if (f.layout() == null && shard.endsWith(".safetensors")) {
          // a .safetensors file is read or refused by its format: without a layout, the push named it with --opaque
          return "is stored unread (--opaque), so the index cannot be checked against its tensors: leave the shards"
              + " out of --opaque";
        }
        return "is " + (f.layout() == null ? "not a safetensors file" : "a " + f.layout().format() + " file, not"
            + " safetensors");
      }
      String leftOut = tree.leftOut(dir + shard);
      return leftOut != null ? "is " + leftOut : "missing";
    };
    index.check(shards, present, whyMissing);
  }

  /**
   * A PyTorch shard index ({@code pytorch_model.bin.index.json}): read as strictly as a safetensors index, and each
   * shard it lists must be a file of the model (a shard left out would make transformers fail on load). Its tensors
   * are not checked against the shards: a shard may be one Ferry keeps unread ({@code --opaque}).
   */
  private static void checkBinIndex(ModelTree tree, ModelTree.Entry indexEntry) throws IOException {
    HfIndex index;
    try (FileChannel ch = tree.open(indexEntry.path())) {
      index = HfIndex.read(indexEntry.path(), ch);
    }
    Set<String> paths = new HashSet<>();
    tree.files().forEach(f -> paths.add(f.path()));
    List<String> problems = new ArrayList<>();
    for (String shard : index.shards()) {
      String path = indexEntry.directory() + shard;
      if (!paths.contains(path)) {
        String leftOut = tree.leftOut(path);
        problems.add("shard '" + shard + "' is listed in weight_map but " + (leftOut != null ? "is " + leftOut
            : "missing"));
      }
    }
    if (!problems.isEmpty()) {
      throw new InvalidInputException(indexEntry.path() + ": " + String.join("; ",
          problems.subList(0, Math.min(10, problems.size())))
          + (problems.size() > 10 ? "; and " + (problems.size() - 10) + " more problems" : ""));
    }
  }

  /** The safetensors header a layout was made from. */
  private static SafetensorsHeader header(FileLayout l) {
    return new SafetensorsHeader(l.fileName(), l.dataStart() - 8,
        l.metadata(SafetensorsMetadata.class).map(SafetensorsMetadata::entries).orElse(Map.of()), l.tensors(),
        l.size());
  }
}
