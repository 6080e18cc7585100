package io.ferry.export;

import io.ferry.error.InvalidInputException;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsFormat;
import io.ferry.format.torch.TorchZipWriter;
import io.ferry.read.ModelReader;
import io.ferry.transfer.PullOptions;
import io.ferry.version.FileEntry;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a version with its safetensors files as PyTorch zip checkpoints ({@code torch.load(path,
 * weights_only=True)} reads them): each tensor under its name, in file order, with a storage of its own. Names follow
 * the Hugging Face convention, so transformers finds the weights either way: {@code model.safetensors} becomes {@code
 * pytorch_model.bin}, {@code model-00001-of-00002.safetensors} becomes {@code pytorch_model-00001-of-00002.bin}, any
 * other {@code x.safetensors} becomes {@code x.bin}, and a sharded model's {@code *.safetensors.index.json} is
 * written under the matching name with its {@code weight_map} pointing at the new files. A safetensors file's
 * {@code __metadata__} has no place in a state dict and is not written. Other files (GGUF, ONNX, torch, config) are
 * written as they are. A dtype torch has no storage for (FP8, unsigned 16 to 64 bits) is refused, naming the tensor,
 * before any file is written. Stateless.
 */
public final class TorchExport {
  private static final String INDEX = ".safetensors.index.json";

  private TorchExport() {}

  /**
   * Writes the version {@code reader} reads into {@code dest}; with {@code fsync}, forces every file to disk before
   * it gets its final name.
   *
   * @throws InvalidInputException if a converted name clashes with a file of the version, a path is unsafe, a
   *     tensor's dtype has no torch storage, or an index file is not valid JSON
   */
  public static Export.Result write(ModelReader reader, Path dest, boolean fsync) throws IOException {
    return write(reader, dest, fsync, PullOptions.Existing.REFUSE);
  }

  /**
   * Writes the version {@code reader} reads into {@code dest}, other files in it handled as {@code existing} says
   * ({@link Export#write(ModelReader, Path, boolean, Export.As, PullOptions.Existing)}).
   */
  public static Export.Result write(ModelReader reader, Path dest, boolean fsync, PullOptions.Existing existing)
      throws IOException {
    for (FileEntry f : reader.snapshot().files()) {
      if (f.format().equals(SafetensorsFormat.NAME)) {
        TorchZipWriter.check(f.path(), tensorsOf(f));
      }
    }
    return Export.write(reader, dest, fsync, "torch", TorchExport::convertedName, TorchExport::convert, existing);
  }

  /** The name a file is written under, or null when it is written as it is. */
  static String convertedName(FileEntry f) {
    if (f.format().equals(SafetensorsFormat.NAME)) {
      return binName(f.path());
    }
    if (f.path().endsWith(INDEX)) {
      return binName(f.path().substring(0, f.path().length() - ".index.json".length())) + ".index.json";
    }
    return null;
  }

  /** {@code dir/model*.safetensors} → {@code dir/pytorch_model*.bin}; {@code dir/x.safetensors} → {@code dir/x.bin}. */
  static String binName(String path) {
    int slash = path.lastIndexOf('/');
    String dir = path.substring(0, slash + 1);
    String name = path.substring(slash + 1);
    String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
    if (stem.equals("model") || stem.startsWith("model-")) {
      stem = "pytorch_" + stem;
    }
    return dir + stem + ".bin";
  }

  static long convert(ModelReader reader, FileEntry f, FileChannel out) throws IOException {
    if (!f.format().equals(SafetensorsFormat.NAME)) {
      return rewriteIndex(reader, f, out);
    }
    List<TorchZipWriter.Tensor> tensors = tensorsOf(f);
    TorchZipWriter w = TorchZipWriter.start(out, binName(f.path()), tensors);
    if (backToBack(f.tensors())) {
      // one range for all tensors: chunks decode ahead across tensor boundaries, on every core
      long from = f.tensors().isEmpty() ? 0 : f.tensors().get(0).begin();
      long to = f.tensors().isEmpty() ? 0 : f.tensors().get(f.tensors().size() - 1).end();
      w.remainingTensors(ch -> reader.copyRange(f.path(), f.dataStart() + from, f.dataStart() + to, ch));
    } else {
      for (TensorInfo t : f.tensors()) {
        long from = f.dataStart() + t.begin();
        w.tensor(ch -> reader.copyRange(f.path(), from, f.dataStart() + t.end(), ch));
      }
    }
    w.finish();
    return tensors.size();
  }

  /** Whether each tensor's bytes start where the previous one's end (safetensors files are written so). */
  private static boolean backToBack(List<TensorInfo> tensors) {
    for (int i = 1; i < tensors.size(); i++) {
      if (tensors.get(i).begin() != tensors.get(i - 1).end()) {
        return false;
      }
    }
    return true;
  }

  private static List<TorchZipWriter.Tensor> tensorsOf(FileEntry f) {
    List<TorchZipWriter.Tensor> tensors = new ArrayList<>();
    for (TensorInfo t : f.tensors()) {
      tensors.add(new TorchZipWriter.Tensor(t.name(), t.dtype(), t.shape()));
    }
    return tensors;
  }

  /** The index with every {@code weight_map} value renamed as its file is. */
  private static long rewriteIndex(ModelReader reader, FileEntry f, FileChannel out) throws IOException {
    return WeightMaps.rename(reader, f, out, "torch", file -> file.endsWith(".safetensors") ? binName(file) : null);
  }
}
