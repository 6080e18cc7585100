package io.ferry.scan;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.ModelTree;
import io.ferry.format.registry.FormatRegistry;
import io.ferry.version.SafePaths;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The files of a model to push, found and validated completely before anything is written: a single file, or a
 * directory walked recursively (following symbolic links, as Hugging Face caches use them; {@code .git} directories
 * are skipped, and so are {@code .cache/huggingface} directories, the download state {@code hf download --local-dir}
 * leaves beside a model, which Hugging Face's own uploads skip too, and {@code .ferry-staging} directories, where
 * background checkpoint pushes stage their copies). Each file is matched to a
 * {@link io.ferry.format.TensorFormat} of a {@link FormatRegistry}, which
 * reads and validates it into a {@link FileLayout}; files no format claims are opaque. Then each
 * {@link DirectoryFormat} checks the files together (a {@code model.safetensors.index.json} against its shards).
 */
public final class ModelFiles {
  /**
   * One file to push.
   *
   * @param path relative, '/'-separated, normalized
   * @param file where it is
   * @param size bytes
   * @param layout its layout, or null for an opaque file
   * @param stamp the file as it was before it was read, to notice a change while it is pushed
   * @param parsed the bytes its own format read to give its layout, to check once the push read its chunks
   *     ({@link #layoutChange}); null for an opaque file and for a layout a directory format gave
   * @param checked the bytes directory formats read of it to check it against the other files (a Hugging Face shard
   *     index), to check likewise; empty if none read it
   */
  public record SourceFile(String path, Path file, long size, FileLayout layout, FileStamp stamp, ReadLog parsed,
      List<ReadLog> checked) {}

  private ModelFiles() {}

  /** Scans and validates a file or a directory with the {@linkplain FormatRegistry#standard() standard} formats. */
  public static List<SourceFile> scan(Path source) throws IOException {
    return scan(source, FormatRegistry.standard());
  }

  /**
   * Scans and validates a file or a directory.
   *
   * @return the files sorted by path
   * @throws InvalidInputException naming the file and the defect, for a missing source, an unsafe or unreadable file,
   *     a defect a format finds in a file, or a disagreement between files a directory format finds
   * @throws IOException if a file cannot be read
   */
  public static List<SourceFile> scan(Path source, FormatRegistry formats) throws IOException {
    return scan(source, formats, List.of());
  }

  /**
   * Scans and validates a file or a directory that must not contain, nor lie inside, any of {@code excluded} (the
   * directory of the store the files go to: pushing a store into itself would store the store, and pulling it back
   * would overwrite its own files). Compared by real path, so links do not hide them.
   *
   * @return the files sorted by path
   * @throws InvalidInputException as {@link #scan(Path, FormatRegistry)}, and for a source that contains or lies in
   *     an excluded directory, a file name that is not valid in the platform's encoding (UTF-8), a symbolic link loop
   */
  public static List<SourceFile> scan(Path source, FormatRegistry formats, List<Path> excluded) throws IOException {
    return scan(source, formats, excluded, PathFilter.ALL);
  }

  /** The name of the ignore file at the root of a source directory: its rules filter the push; it is not pushed. */
  public static final String IGNORE_FILE = ".ferryignore";

  /**
   * Scans and validates what {@code filter} takes of a file or a directory, as {@link #scan(Path, FormatRegistry,
   * List)}; for a directory, the rules of its {@value #IGNORE_FILE} (if any) are added to the filter, and the ignore
   * file itself is not taken. A file the filter does not take is never opened, and a directory the ignore rules
   * ignore whole is not walked.
   *
   * @throws InvalidInputException as {@link #scan(Path, FormatRegistry, List)}, and when the filter takes no file
   */
  public static List<SourceFile> scan(Path source, FormatRegistry formats, List<Path> excluded, PathFilter filter)
      throws IOException {
    if (!Files.exists(source, LinkOption.NOFOLLOW_LINKS)) {
      throw new InvalidInputException(source + ": no such file or directory");
    }
    List<Path> stores = new ArrayList<>();
    for (Path e : excluded) {
      if (Files.exists(e)) {
        stores.add(e.toRealPath());
      }
    }
    if (Files.isSymbolicLink(source) && !Files.exists(source)) {
      throw new InvalidInputException(source + ": " + brokenLink(source));
    }
    Path real = source.toRealPath();
    for (Path store : stores) {
      if (store.startsWith(real)) {
        throw new InvalidInputException("source " + source + " contains the store " + store
            + "; push a directory that does not hold the store, or use a store outside it");
      }
      if (real.startsWith(store)) {
        throw new InvalidInputException("source " + source + " is inside the store " + store);
      }
    }
    List<SourceFile> files = new ArrayList<>();
    PathFilter taken = filter;
    if (Files.isRegularFile(source)) {
      if (filter.test(source.getFileName().toString())) {
        checkName(source);
        files.add(load(source.getFileName().toString(), source, formats));
      }
    } else if (Files.isDirectory(source)) {
      Path ignoreFile = source.resolve(IGNORE_FILE);
      if (Files.isRegularFile(ignoreFile)) {
        taken = filter.withIgnoreRules(ignoreLines(ignoreFile), ignoreFile.toString());
      } else if (Files.exists(ignoreFile, LinkOption.NOFOLLOW_LINKS)) {
        // its rules cannot be read: pushing without them would store what the user meant to leave out
        String what = Files.isSymbolicLink(ignoreFile) && !Files.exists(ignoreFile) ? brokenLink(ignoreFile)
            : "not a regular file";
        throw new InvalidInputException(ignoreFile + ": " + what + ", so its ignore rules cannot be read");
      }
      walk(source, files, formats, stores, taken);
    } else {
      throw new InvalidInputException(source + ": not a regular file or directory");
    }
    if (files.isEmpty()) {
      throw new InvalidInputException(source + (taken.takesAll() ? ": no files to push (the directory is empty)"
          : ": no files to push: " + taken + " left none"));
    }
    files.sort(Comparator.comparing(SourceFile::path));
    boolean oneFile = !Files.isDirectory(source);
    Tree tree = new Tree(files, oneFile ? source.toAbsolutePath().getParent() : source, taken, oneFile);
    for (DirectoryFormat d : formats.directoryFormats()) {
      d.check(tree);
    }
    // opaque files a directory format reads through others (an ONNX model's external data, cut at its initializers)
    Map<String, FileLayout> given = new HashMap<>();
    for (DirectoryFormat d : formats.directoryFormats()) {
      for (Map.Entry<String, FileLayout> e : d.layouts(tree).entrySet()) {
        given.putIfAbsent(e.getKey(), e.getValue());
      }
    }
    if (!given.isEmpty()) {
      for (int i = 0; i < files.size(); i++) {
        SourceFile f = files.get(i);
        FileLayout l = given.get(f.path());
        if (l != null && f.layout() == null && !formats.opaque(f.path())) {
          if (l.size() != f.size()) {
            throw new IllegalStateException(f.path() + ": a directory format gave a layout of " + l.size()
                + " bytes for a file of " + f.size());
          }
          files.set(i, new SourceFile(f.path(), f.file(), f.size(), l, f.stamp(), null, List.of()));
        }
      }
    }
    for (int i = 0; i < files.size(); i++) {
      SourceFile f = files.get(i);
      List<ReadLog> checked = tree.reads.get(f.path());
      if (checked != null) {
        files.set(i, new SourceFile(f.path(), f.file(), f.size(), f.layout(), f.stamp(), f.parsed(),
            List.copyOf(checked)));
      }
    }
    return files;
  }

  /** The lines of an ignore file, at most 1 MiB of UTF-8. */
  private static List<String> ignoreLines(Path file) throws IOException {
    if (Files.size(file) > 1 << 20) {
      throw new InvalidInputException(file + ": larger than 1 MiB; an ignore file holds a few globs");
    }
    try {
      return Files.readAllLines(file, java.nio.charset.StandardCharsets.UTF_8);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new InvalidInputException(file + ": not valid UTF-8");
    }
  }

  /** A path under the root, '/'-separated, as filters see it (before it is checked). */
  private static String filterPath(Path root, Path file) {
    StringBuilder b = new StringBuilder();
    for (Path part : root.relativize(file)) {
      b.append(b.length() > 0 ? "/" : "").append(part);
    }
    return b.toString();
  }

  private static void walk(Path root, List<SourceFile> out, FormatRegistry formats, List<Path> stores,
      PathFilter filter) throws IOException {
    Files.walkFileTree(root, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
            if (!dir.equals(root)) {
              String rel = filterPath(root, dir);
              if (SafePaths.isGit(dir.getFileName().toString()) || SafePaths.isToolState(rel + "/")
                  || filter.skipsDirectory(rel)) {
                return FileVisitResult.SKIP_SUBTREE;
              }
              checkName(dir);
              checkOutside(root, dir, stores);
            }
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
            String rel = filterPath(root, file);
            if (rel.equals(IGNORE_FILE) || SafePaths.isGit(file.getFileName().toString())
                || !filter.test(rel)) {
              return FileVisitResult.CONTINUE; // never opened (a .git file: a submodule's link to its repository)
            }
            if (attrs.isSymbolicLink()) {
              // the walk follows links and reports a link as itself only when its target cannot be read
              throw new InvalidInputException(file + ": " + brokenLink(file));
            }
            if (!attrs.isRegularFile()) {
              throw new InvalidInputException(file + ": not a regular file (device, socket or pipe)");
            }
            checkName(file);
            checkOutside(root, file, stores);
            out.add(load(relative(root, file), file, formats));
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
            if (e instanceof FileSystemLoopException) {
              throw new InvalidInputException(file + ": symbolic link loop");
            }
            if (e instanceof AccessDeniedException) {
              throw new InvalidInputException(file + ": not readable (permission denied)");
            }
            if (e instanceof NoSuchFileException) {
              throw new InvalidInputException(file + ": dangling symbolic link or file removed during the scan");
            }
            throw e;
          }
        });
  }

  /** Why a symbolic link cannot be followed: it loops, or its target is missing. */
  private static String brokenLink(Path link) {
    Path at = link;
    for (int hops = 0; hops < 64; hops++) {
      Path target;
      try {
        target = Files.readSymbolicLink(at);
      } catch (IOException | UnsupportedOperationException e) {
        return "symbolic link that cannot be followed (" + e.getMessage() + ")";
      }
      Path parent = at.getParent();
      at = parent == null ? target : parent.resolve(target);
      if (!Files.isSymbolicLink(at)) {
        return Files.exists(at, LinkOption.NOFOLLOW_LINKS) ? "symbolic link that cannot be followed (to " + at + ")"
            : "dangling symbolic link (its target " + at + " does not exist)";
      }
    }
    return "symbolic link loop (the link leads back to itself)";
  }

  /**
   * Refuses a name the platform decoded with replacement characters: its bytes are not valid in the file name
   * encoding (UTF-8), so it would be stored under another name than it has and could never be pulled back as it was.
   */
  private static void checkName(Path file) throws IOException {
    Path name = file.getFileName();
    String text = name.toString();
    if (text.indexOf('\uFFFD') < 0) {
      return;
    }
    Path parent = file.getParent();
    boolean same;
    try {
      // a name with a replacement character cannot even be encoded again in an encoding (ASCII) that has none
      Path reencoded = parent == null ? Path.of(text) : parent.resolve(text);
      same = Files.exists(reencoded, LinkOption.NOFOLLOW_LINKS) && Files.isSameFile(reencoded, file);
    } catch (java.nio.file.InvalidPathException e) {
      same = false;
    }
    if (!same) {
      String raw = file.toUri().getRawPath();
      if (raw.endsWith("/")) {
        raw = raw.substring(0, raw.length() - 1);
      }
      String escaped = raw.substring(raw.lastIndexOf('/') + 1);
      String jnu = System.getProperty("sun.jnu.encoding", "UTF-8");
      String encoding = jnu.equalsIgnoreCase("UTF-8") ? "UTF-8"
          : jnu + " (the locale's file name encoding; run with a UTF-8 locale, for example LC_ALL=C.UTF-8)";
      throw new InvalidInputException((parent == null ? "." : parent) + ": holds a file name that is not valid "
          + encoding + ": '" + escaped + "' (bytes percent-encoded); rename it to push this source");
    }
  }

  /** Refuses a file or directory of the source that is (a link into) the store being pushed to. */
  private static void checkOutside(Path root, Path file, List<Path> stores) throws IOException {
    if (stores.isEmpty()) {
      return;
    }
    Path real = file.toRealPath();
    for (Path store : stores) {
      if (real.startsWith(store)) {
        throw new InvalidInputException("source " + root + " contains the store " + store + " (at " + file
            + "); push a directory that does not hold the store, or use a store outside it");
      }
    }
  }

  private static String relative(Path root, Path file) throws InvalidInputException {
    StringBuilder b = new StringBuilder();
    for (Path part : root.relativize(file)) {
      if (b.length() > 0) {
        b.append('/');
      }
      b.append(part.toString());
    }
    return SafePaths.check(b.toString(), root.toString());
  }

  private static SourceFile load(String rel, Path file, FormatRegistry formats) throws IOException {
    SafePaths.checkPushable(rel, file.toString());
    if (!Files.isReadable(file)) {
      throw new InvalidInputException(file + ": not readable (permission denied)");
    }
    FileStamp stamp = FileStamp.of(file);
    long size = stamp.size();
    FileLayout layout;
    ReadLog parsed;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      if (ch.size() == 0 && ch.read(ByteBuffer.allocate(1), 0) > 0) {
        // /proc and some /sys files report no size and still read as text: stored by their size, they would be empty
        throw new InvalidInputException(file + ": its size reads 0 bytes but it reads as content (a /proc or /sys "
            + "file?); copy it into a regular file to push it");
      }
      // errors name the file by its path in the model
      long length = ch.size();
      ReadLog.Recorded<FileLayout> read = ReadLog.record(ch, in -> formats.read(new FormatInput(rel, in, length))
          .orElse(null));
      layout = read.value();
      parsed = layout == null ? null : read.log();
    } catch (AccessDeniedException e) {
      throw new InvalidInputException(file + ": not readable (permission denied)");
    }
    return new SourceFile(rel, file, layout == null ? size : layout.size(), layout, stamp, parsed, List.of());
  }

  /**
   * Checks the layout of a scanned file again, once a push has read its chunks: a file whose own format gave its layout
   * must still give the same, else the snapshot would record a tensor table (or metadata) that the stored bytes need
   * not hold. This is the one change both chunk reads agree on and a file's stamp does not always show: its header
   * rewritten in place with the same length between the scan and those reads, through another hard link with the
   * modification time put back. The bytes the format read at the scan are read and hashed again ({@link ReadLog}):
   * the same bytes give the same layout, and parsing the file again would hold a second tensor table beside the
   * push's. So are the bytes directory formats read of it to check it against the other files (a shard index must
   * still list the tensors its shards hold). Layouts that a directory format gave are left to the stamp and the chunk
   * reads.
   *
   * @return null if the layout is the same; else what differs, for a message
   */
  public static String layoutChange(SourceFile f) throws IOException {
    if (f.parsed() == null && f.checked().isEmpty()) {
      return null;
    }
    try (FileChannel ch = FileChannel.open(f.file(), StandardOpenOption.READ)) {
      String change = f.parsed() == null ? null : f.parsed().check(ch);
      if (change != null) {
        return "its " + f.layout().format() + " header reads differently from when it was scanned (" + change + ")";
      }
      for (ReadLog checked : f.checked()) {
        change = checked.check(ch);
        if (change != null) {
          return "what the checks across the model's files read of it (a shard index) reads differently from when"
              + " it was scanned (" + change + ")";
        }
      }
      return null;
    }
  }

  /** The scanned files as directory formats see them. */
  private static final class Tree implements ModelTree {
    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, Path> paths = new LinkedHashMap<>();
    private final Path root;
    private final PathFilter filter;
    private final boolean oneFile;
    /** What directory formats read of each file, by path. */
    final Map<String, List<ReadLog>> reads = new java.util.concurrent.ConcurrentHashMap<>();

    Tree(List<SourceFile> files, Path root, PathFilter filter, boolean oneFile) {
      this.root = root;
      this.filter = filter;
      this.oneFile = oneFile;
      for (SourceFile f : files) {
        entries.add(new Entry(f.path(), f.size(), f.layout()));
        paths.put(f.path(), f.file());
      }
    }

    @Override
    public List<Entry> files() {
      return List.copyOf(entries);
    }

    @Override
    public FileChannel open(String path) throws IOException {
      Path p = paths.get(path);
      if (p == null) {
        throw new NoSuchFileException(path, null, "not a file of the model being scanned");
      }
      // what a directory format reads is checked again at the end of the push, as a file's own format's reads are
      return ReadLog.recording(FileChannel.open(p, StandardOpenOption.READ),
          log -> reads.computeIfAbsent(path, k -> java.util.Collections.synchronizedList(new ArrayList<>())).add(log));
    }

    @Override
    public String leftOut(String path) {
      if (paths.containsKey(path) || (filter.takesAll() && !oneFile)) {
        return null;
      }
      try {
        if (!Files.isRegularFile(root.resolve(path))) {
          return null;
        }
        return oneFile ? "beside the pushed file but not pushed: push its directory " + root + " to take both"
            : "left out by " + filter;
      } catch (java.nio.file.InvalidPathException e) {
        return null;
      }
    }

    @Override
    public boolean linksOutside(String path) throws IOException {
      Path p = paths.get(path);
      if (p == null) {
        throw new NoSuchFileException(path, null, "not a file of the model being scanned");
      }
      return !p.toRealPath().startsWith(root.toRealPath());
    }
  }
}
