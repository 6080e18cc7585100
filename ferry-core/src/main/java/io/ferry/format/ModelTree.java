package io.ferry.format;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.List;
import java.util.Objects;

/**
 * The files of a model as a {@link DirectoryFormat} sees them: every file, with its layout when a
 * {@link TensorFormat} read it, each one already validated on its own.
 */
public interface ModelTree {
  /**
   * One file of the model.
   *
   * @param path relative, '/'-separated, normalized
   * @param size bytes
   * @param layout its layout, or null for a file no format claimed (opaque)
   */
  record Entry(String path, long size, FileLayout layout) {
    /** @throws NullPointerException if path is null */
    public Entry {
      Objects.requireNonNull(path, "path");
    }

    /** Whether a format of this name read the file. */
    public boolean hasFormat(String format) {
      return layout != null && layout.format().equals(format);
    }

    /** The directory part of the path, with its trailing '/'; empty for a file at the top. */
    public String directory() {
      return path.substring(0, path.lastIndexOf('/') + 1);
    }

    /** The last component of the path. */
    public String baseName() {
      return path.substring(path.lastIndexOf('/') + 1);
    }
  }

  /** Every file of the model, sorted by path. */
  List<Entry> files();

  /**
   * Opens a file of the model for reading; the caller closes the channel.
   *
   * @throws java.nio.file.NoSuchFileException if {@code path} is not one of {@link #files()}
   * @throws IOException if it cannot be opened
   */
  FileChannel open(String path) throws IOException;

  /**
   * Whether the file at {@code path} is reached through a symbolic link that leads out of the model's directory (the
   * file itself, or a directory on its way, links to something outside the pushed tree). The scan follows such links
   * (Hugging Face caches are trees of links to blobs); a format whose references must stay inside the model's
   * directory (ONNX external data) refuses them. The default, for trees not read from a file system: false.
   *
   * @throws java.nio.file.NoSuchFileException if {@code path} is not one of {@link #files()}
   * @throws IOException if the link cannot be resolved
   */
  default boolean linksOutside(String path) throws IOException {
    return false;
  }

  /**
   * Why a path that is not one of {@link #files()} is not, when the source holds a file there: the push's filters
   * left it out ({@code "left out by --include '*.json'"}), or the push was given one file of the directory that holds
   * it. Null when no such file is there, or for trees not read
   * from a file system (the default). For the errors of directory formats whose references name such a file.
   */
  default String leftOut(String path) {
    return null;
  }
}
