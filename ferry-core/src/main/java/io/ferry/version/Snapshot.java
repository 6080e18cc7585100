package io.ferry.version;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The content of a version: its files sorted by path, each with its tensor table and chunks. Deterministic: the same
 * files give the same snapshot and so the same id, whoever pushes them and wherever they are stored.
 */
public record Snapshot(List<FileEntry> files) {
  public Snapshot {
    List<FileEntry> sorted = new ArrayList<>(files);
    sorted.sort(Comparator.comparing(FileEntry::path));
    for (int i = 1; i < sorted.size(); i++) {
      if (sorted.get(i).path().equals(sorted.get(i - 1).path())) {
        throw new IllegalArgumentException("duplicate file " + sorted.get(i).path());
      }
    }
    files = List.copyOf(sorted);
  }

  /** Sum of file sizes. */
  public long logicalBytes() {
    long n = 0;
    for (FileEntry f : files) {
      n += f.size();
    }
    return n;
  }

  public int tensorCount() {
    int n = 0;
    for (FileEntry f : files) {
      n += f.tensors().size();
    }
    return n;
  }

  public Optional<FileEntry> file(String path) {
    for (FileEntry f : files) {
      if (f.path().equals(path)) {
        return Optional.of(f);
      }
    }
    return Optional.empty();
  }
}
