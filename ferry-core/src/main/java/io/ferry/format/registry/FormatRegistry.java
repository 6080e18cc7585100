package io.ferry.format.registry;

import io.ferry.format.DirectoryFormat;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.NotATensorFileException;
import io.ferry.format.TensorFormat;
import io.ferry.format.gguf.GgufFormat;
import io.ferry.format.gguf.GgufSplitFormat;
import io.ferry.format.hf.HfIndexFormat;
import io.ferry.format.safetensors.SafetensorsFormat;
import io.ferry.format.torch.TorchFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * The formats a push knows: Ferry's built-in ones (safetensors, GGUF, the Hugging Face index) and those that
 * {@link ServiceLoader} finds ({@code META-INF/services/io.ferry.format.TensorFormat} and
 * {@code io.ferry.format.DirectoryFormat}), and how a file is matched to one of them. Immutable and thread-safe; not a
 * singleton: each caller builds (or is handed) its own.
 *
 * <p>Matching, in this order: the format whose {@link TensorFormat#extensions() extension} ends the file's name; else
 * the format whose {@link TensorFormat#recognises} accepts the file's first {@value #PROBE_BYTES} bytes; else none
 * (the file is opaque).
 */
public final class FormatRegistry {
  /** How many leading bytes of a file {@link TensorFormat#recognises} is shown. */
  public static final int PROBE_BYTES = 4096;

  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");

  private final List<TensorFormat> formats;
  private final List<DirectoryFormat> directoryFormats;
  private final Map<String, TensorFormat> byExtension;
  private final Predicate<String> opaque;

  private FormatRegistry(List<TensorFormat> formats, List<DirectoryFormat> directoryFormats) {
    this(formats, directoryFormats, name -> false);
  }

  private FormatRegistry(List<TensorFormat> formats, List<DirectoryFormat> directoryFormats,
      Predicate<String> opaque) {
    this.opaque = opaque;
    this.formats = List.copyOf(formats);
    this.directoryFormats = List.copyOf(directoryFormats);
    Map<String, TensorFormat> names = new HashMap<>();
    Map<String, TensorFormat> ext = new LinkedHashMap<>();
    for (TensorFormat f : this.formats) {
      String name = f.name();
      if (name == null || !NAME.matcher(name).matches() || name.equals("opaque")) {
        throw new IllegalArgumentException("format " + f.getClass().getName() + " has the name '" + name
            + "'; expected 1-64 of [a-z0-9_-], starting with a letter or digit, and not 'opaque'");
      }
      TensorFormat same = names.putIfAbsent(name, f);
      if (same != null) {
        throw new IllegalArgumentException("two formats are named '" + name + "': " + same.getClass().getName()
            + " and " + f.getClass().getName());
      }
      for (String e : f.extensions()) {
        if (e.length() < 2 || e.charAt(0) != '.') {
          throw new IllegalArgumentException(
              "format '" + name + "' claims the file ending '" + e + "'; expected a dot and at least one character");
        }
        TensorFormat other = ext.putIfAbsent(e, f);
        if (other != null) {
          throw new IllegalArgumentException(
              "formats '" + other.name() + "' and '" + name + "' both claim files ending in '" + e + "'");
        }
      }
    }
    Map<String, DirectoryFormat> dirNames = new HashMap<>();
    for (DirectoryFormat d : this.directoryFormats) {
      DirectoryFormat same = dirNames.putIfAbsent(d.name(), d);
      if (same != null) {
        throw new IllegalArgumentException("two directory formats are named '" + d.name() + "': "
            + same.getClass().getName() + " and " + d.getClass().getName());
      }
    }
    this.byExtension = ext;
  }

  /** The built-in formats and those the class loader of this class finds through {@link ServiceLoader}. */
  public static FormatRegistry standard() {
    return standard(FormatRegistry.class.getClassLoader());
  }

  /**
   * The built-in formats, then those {@code loader} finds through {@link ServiceLoader} sorted by name (a provider
   * of a built-in class is skipped).
   *
   * @throws IllegalArgumentException if two formats share a name or a file ending
   * @throws java.util.ServiceConfigurationError if a provider cannot be loaded
   */
  public static FormatRegistry standard(ClassLoader loader) {
    List<TensorFormat> formats = new ArrayList<>(List.of(new SafetensorsFormat(), new TorchFormat(), new GgufFormat()));
    List<TensorFormat> found = new ArrayList<>();
    for (TensorFormat f : ServiceLoader.load(TensorFormat.class, loader)) {
      if (formats.stream().noneMatch(b -> b.getClass() == f.getClass())) {
        found.add(f);
      }
    }
    found.sort(Comparator.comparing(TensorFormat::name));
    formats.addAll(found);
    List<DirectoryFormat> dirs = new ArrayList<>(List.of(new HfIndexFormat(), new GgufSplitFormat()));
    List<DirectoryFormat> foundDirs = new ArrayList<>();
    for (DirectoryFormat d : ServiceLoader.load(DirectoryFormat.class, loader)) {
      if (dirs.stream().noneMatch(b -> b.getClass() == d.getClass())) {
        foundDirs.add(d);
      }
    }
    foundDirs.sort(Comparator.comparing(DirectoryFormat::name));
    dirs.addAll(foundDirs);
    return new FormatRegistry(formats, dirs);
  }

  /**
   * Exactly these formats, in this order.
   *
   * @throws IllegalArgumentException if two formats share a name or a file ending
   */
  public static FormatRegistry of(List<TensorFormat> formats, List<DirectoryFormat> directoryFormats) {
    return new FormatRegistry(formats, directoryFormats);
  }

  /**
   * These formats, except that {@link #read} leaves the files {@code opaque} takes (by their path in the model) to no
   * format: they are stored as their bytes, unread ({@code push --opaque}: a pickle that names classes beyond the
   * allow-list, such as Hugging Face's {@code training_args.bin}, which the torch format refuses).
   */
  public FormatRegistry withOpaque(Predicate<String> opaque) {
    return new FormatRegistry(formats, directoryFormats, Objects.requireNonNull(opaque, "opaque"));
  }

  /** Whether {@link #withOpaque} makes the file at {@code path} (its path in the model) opaque. */
  public boolean opaque(String path) {
    return opaque.test(path);
  }

  /** The file formats, built-in ones first. */
  public List<TensorFormat> formats() {
    return formats;
  }

  /** The directory formats, built-in ones first; a push runs each of them once over the scanned model. */
  public List<DirectoryFormat> directoryFormats() {
    return directoryFormats;
  }

  /**
   * The format that claims a file by the ending of its name (case-sensitive), if any; of two endings that match
   * ({@code .tar.gz}, {@code .gz}) the longer wins.
   */
  public Optional<TensorFormat> byName(String fileName) {
    String best = null;
    for (String e : byExtension.keySet()) {
      if (fileName.endsWith(e) && (best == null || e.length() > best.length())) {
        best = e;
      }
    }
    return Optional.ofNullable(best == null ? null : byExtension.get(best));
  }

  /**
   * The format that claims a file: by name, else by its first bytes.
   *
   * @param head the first {@code min(size, PROBE_BYTES)} bytes of the file; not changed
   * @throws IllegalStateException if two formats recognise the bytes (their magic numbers clash)
   */
  public Optional<TensorFormat> recognise(String fileName, ByteBuffer head, long size) {
    Optional<TensorFormat> named = byName(fileName);
    if (named.isPresent()) {
      return named;
    }
    TensorFormat found = null;
    for (TensorFormat f : formats) {
      if (f.recognises(head.asReadOnlyBuffer(), size)) {
        if (found != null) {
          throw new IllegalStateException(fileName + ": formats '" + found.name() + "' and '" + f.name()
              + "' both recognise its first bytes; formats must not share a magic number");
        }
        found = f;
      }
    }
    return Optional.ofNullable(found);
  }

  /**
   * Matches a file to a format and reads its layout; empty for a file no format claims, that is to be opaque
   * ({@link #withOpaque}), or that the claiming format finds to be of another kind ({@link NotATensorFileException}).
   *
   * @throws io.ferry.error.InvalidInputException if the claiming format finds a defect, or the file is a Git LFS
   *     pointer (a clone whose large files Git LFS did not fetch)
   * @throws IllegalStateException if two formats recognise the file, or a format returns a layout of another name or
   *     size than the file's (a bug in that format)
   * @throws IOException if the file cannot be read
   */
  public Optional<FileLayout> read(FormatInput in) throws IOException {
    if (opaque.test(in.name())) {
      return Optional.empty();
    }
    LfsPointer.refuse(in);
    Optional<TensorFormat> f = byName(in.name());
    if (f.isEmpty()) {
      ByteBuffer head = ByteBuffer.allocate((int) Math.min(in.size(), PROBE_BYTES));
      in.readFully(head, 0);
      f = recognise(in.name(), head.flip(), in.size());
    }
    if (f.isEmpty()) {
      return Optional.empty();
    }
    FileLayout layout;
    try {
      layout = f.get().read(in);
    } catch (NotATensorFileException e) {
      return Optional.empty(); // of another kind than the name says, stored as its bytes
    }
    if (!layout.format().equals(f.get().name()) || layout.size() != in.size()) {
      throw new IllegalStateException(in.name() + ": format '" + f.get().name() + "' returned a layout of format '"
          + layout.format() + "' for " + layout.size() + " bytes; the file has " + in.size());
    }
    return Optional.of(layout);
  }
}
