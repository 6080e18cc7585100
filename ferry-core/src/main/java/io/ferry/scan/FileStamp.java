package io.ferry.scan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a source file looked like when it was scanned: size, modification time, status-change time (where the file
 * system has one: {@code unix:ctime}), file key (device and inode) and number of names (hard links). A push takes a
 * stamp before it reads a file and compares it with a fresh one after it stored the file's chunks, so that a file
 * written, truncated, appended to or replaced while it was pushed fails the push instead of publishing bytes that were
 * never one state of the file. The status-change time of a file with several names is not compared: making, removing
 * or renaming any of its names changes it (a checkpoint staged by hard links while training deletes or renames its
 * own name), and a write still changes the modification time.
 *
 * @param size bytes
 * @param modified last modification time
 * @param changed last status change (ctime), or null where the file system does not report one
 * @param fileKey the file's identity (device and inode on Unix), or null where the file system has none
 * @param links the file's number of names ({@code unix:nlink}), or 0 where the file system does not report one
 */
public record FileStamp(long size, FileTime modified, FileTime changed, Object fileKey, int links) {
  public FileStamp {
    if (size < 0) {
      throw new IllegalArgumentException("negative file size " + size);
    }
    Objects.requireNonNull(modified, "modified");
  }

  /** The stamp of the file at {@code file} now, following links. */
  public static FileStamp of(Path file) throws IOException {
    BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
    FileTime ctime = null;
    int links = 0;
    try {
      Map<String, Object> unix = Files.readAttributes(file, "unix:ctime,nlink");
      ctime = (FileTime) unix.get("ctime");
      links = (Integer) unix.get("nlink");
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      // no unix view on this file system: size, mtime and file key still catch writes
    }
    return new FileStamp(a.size(), a.lastModifiedTime(), ctime, a.fileKey(), links);
  }

  /**
   * How {@code now} differs from this stamp, for an error message ("size 100 -> 80, modification time ..."), or null
   * if it does not.
   */
  public String differences(FileStamp now) {
    List<String> d = new ArrayList<>();
    if (size != now.size) {
      d.add("size " + size + " -> " + now.size + " bytes");
    }
    if (!modified.equals(now.modified)) {
      d.add("modification time " + modified + " -> " + now.modified);
    }
    if (changed != null && now.changed != null && !changed.equals(now.changed) && links <= 1 && now.links <= 1) {
      d.add("status change time " + changed + " -> " + now.changed);
    }
    if (fileKey != null && now.fileKey != null && !fileKey.equals(now.fileKey)) {
      d.add("replaced by another file (" + fileKey + " -> " + now.fileKey + ")");
    }
    return d.isEmpty() ? null : String.join(", ", d);
  }

  /**
   * The stamp of {@code file} now, or the differences from this stamp as {@link #differences} words them; a file that
   * is gone is reported as such.
   *
   * @return null if the file is as it was
   */
  public String recheck(Path file) throws IOException {
    FileStamp now;
    try {
      now = of(file);
    } catch (NoSuchFileException e) {
      return "removed";
    }
    return differences(now);
  }
}
