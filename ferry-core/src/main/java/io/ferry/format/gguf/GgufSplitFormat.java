package io.ferry.format.gguf;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.FileLayout;
import io.ferry.format.ModelTree;
import io.ferry.format.TensorInfo;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GGUF model split by llama.cpp's {@code gguf-split} as a {@link DirectoryFormat}: files named {@code
 * PREFIX-NNNNN-of-MMMMM.gguf} (NNNNN from 1), each a GGUF of its own carrying {@code split.no} (from 0), {@code
 * split.count} and, usually, {@code split.tensors.count}. llama.cpp opens the first split and finds the others by
 * that name pattern, so each is checked as its loader checks it, and more: every split of the set is present, each
 * one's {@code split.no} matches its name, all agree on the count (which matches the names' MMMMM) and on the tensor
 * count, which is the number of tensors in all splits together, and no tensor name appears in two splits. A GGUF with
 * {@code split.count} above 1 whose name does not follow the pattern is refused: llama.cpp could not find its other
 * splits. GGUF files without {@code split.*} keys are left alone, whatever their names. Each split's tensors stay in
 * its own file entry, so dedup, show, diff and row reads work per split. Stateless.
 */
public final class GgufSplitFormat implements DirectoryFormat {
  private static final Pattern SPLIT_NAME = Pattern.compile("(.+)-(\\d{5})-of-(\\d{5})\\.gguf");
  private static final String NO = "split.no";
  private static final String COUNT = "split.count";
  private static final String TENSORS = "split.tensors.count";

  /** Creates the format; it holds no state. */
  public GgufSplitFormat() {}

  @Override
  public String name() {
    return "gguf-split";
  }

  private record Split(ModelTree.Entry entry, int number, long no, long count, Long tensors) {}

  @Override
  public void check(ModelTree tree) throws InvalidInputException {
    Map<String, List<Split>> sets = new TreeMap<>();
    Map<String, Integer> declared = new HashMap<>();
    // GGUF files named as a split but without split keys: a set that counts one of them is told so, not that it is
    // missing
    Set<String> unmarked = new HashSet<>();
    for (ModelTree.Entry f : tree.files()) {
      if (!f.hasFormat(GgufFormat.NAME)) {
        continue;
      }
      GgufMetadata md = f.layout().metadata(GgufMetadata.class).orElse(null);
      if (md == null || md.get(NO) == null && md.get(COUNT) == null && md.get(TENSORS) == null) {
        if (SPLIT_NAME.matcher(f.baseName()).matches()) {
          unmarked.add(f.path());
        }
        continue;
      }
      long count = integer(f, md, COUNT, "u16", true);
      long no = integer(f, md, NO, "u16", true);
      String tensorsText = md.get(TENSORS);
      Long tensors = tensorsText == null ? null : integer(f, md, TENSORS, "i32", false);
      if (count < 1 || count > 99_999 || no < 0 || no >= count) {
        throw new InvalidInputException(f.path() + ": " + NO + " = " + no + " and " + COUNT + " = " + count
            + " do not describe a split of the set (expected 0 <= " + NO + " < " + COUNT + " <= 99999)");
      }
      Matcher m = SPLIT_NAME.matcher(f.baseName());
      if (!m.matches()) {
        if (count == 1) {
          continue; // a model "split" into one file is a plain GGUF
        }
        throw new InvalidInputException(f.path() + ": is split " + (no + 1) + " of " + count + " (" + NO + ", "
            + COUNT + ") but is not named PREFIX-" + String.format(Locale.ROOT, "%05d-of-%05d", no + 1, count)
            + ".gguf, so llama.cpp cannot find the other splits");
      }
      int number = Integer.parseInt(m.group(2));
      int of = Integer.parseInt(m.group(3));
      if (of != count) {
        throw new InvalidInputException(f.path() + ": its name says " + of + " splits, its " + COUNT + " says "
            + count);
      }
      if (number != no + 1) {
        throw new InvalidInputException(f.path() + ": its name says split " + number + ", its " + NO + " says "
            + no + " (split " + (no + 1) + "; " + NO + " counts from 0)");
      }
      String set = f.directory() + m.group(1);
      Integer before = declared.putIfAbsent(set, of);
      if (before != null && before != of) {
        throw new InvalidInputException(f.path() + ": says " + of + " splits, another split of " + set + " says "
            + before);
      }
      sets.computeIfAbsent(set, k -> new ArrayList<>()).add(new Split(f, number, no, count, tensors));
    }
    for (Map.Entry<String, List<Split>> e : sets.entrySet()) {
      checkSet(e.getKey(), e.getValue(), unmarked);
    }
  }

  private static void checkSet(String set, List<Split> splits, Set<String> unmarked)
      throws InvalidInputException {
    splits.sort((a, b) -> Integer.compare(a.number, b.number));
    long count = splits.get(0).count;
    String first = String.format(Locale.ROOT, "%s-%05d-of-%05d.gguf", set, 1, count);
    List<String> missing = new ArrayList<>();
    int at = 0;
    for (int n = 1; n <= count; n++) {
      if (at < splits.size() && splits.get(at).number == n) {
        at++;
        continue;
      }
      String name = String.format(Locale.ROOT, "%s-%05d-of-%05d.gguf", set, n, count);
      if (unmarked.contains(name)) {
        throw new InvalidInputException(name + ": is named as split " + n + " of " + count + " but has no split keys ("
            + NO + ", " + COUNT + "), which every split of a set carries (llama.cpp refuses a split without " + NO
            + ")");
      }
      if (missing.size() < 10) {
        missing.add(name);
      }
    }
    if (!missing.isEmpty()) {
      long absent = count - splits.size();
      throw new InvalidInputException(first + ": the GGUF is split in " + count + " files and " + absent
          + (absent == 1 ? " is" : " are") + " missing: " + String.join(", ", missing)
          + (absent > missing.size() ? ", ..." : ""));
    }
    Map<String, String> owner = new HashMap<>();
    long total = 0;
    Long declaredTensors = null;
    String declaredBy = null;
    for (Split s : splits) {
      FileLayout l = s.entry.layout();
      for (TensorInfo t : l.tensors()) {
        String was = owner.putIfAbsent(GgufMetadata.cString(t.name()), s.entry.path()); // as ggml names it
        if (was != null) {
          throw new InvalidInputException(first + ": tensor '" + t.name() + "' is in two splits, " + was + " and "
              + s.entry.path());
        }
      }
      total += l.tensors().size();
      if (s.tensors != null) {
        if (declaredTensors != null && !declaredTensors.equals(s.tensors)) {
          throw new InvalidInputException(s.entry.path() + ": " + TENSORS + " = " + s.tensors + ", but "
              + declaredBy + " says " + declaredTensors);
        }
        declaredTensors = s.tensors;
        declaredBy = s.entry.path();
      }
    }
    if (declaredTensors != null && declaredTensors != total) {
      throw new InvalidInputException(first + ": " + TENSORS + " = " + declaredTensors + ", but the " + count
          + " splits hold " + total + " tensors");
    }
  }

  /**
   * The value of a split key, which must be of the type gguf-split writes: llama.cpp's loader refuses the file with
   * "key split.count has wrong type" otherwise, whatever the value.
   */
  private static long integer(ModelTree.Entry f, GgufMetadata md, String key, String type, boolean required)
      throws InvalidInputException {
    GgufEntry entry = md.find(key); // as llama.cpp finds it: a key "split.count\0x" is split.count
    if (entry == null) {
      if (required) {
        throw new InvalidInputException(f.path() + ": has split keys but no " + key);
      }
      return -1;
    }
    String v = entry.value();
    if (!entry.type().equals(type)) {
      throw new InvalidInputException(f.path() + ": " + key + " is of type " + entry.type() + " (value '"
          + (v.length() <= 64 ? v : v.substring(0, 64) + "...") + "'), llama.cpp reads it only as " + type);
    }
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new InvalidInputException(f.path() + ": " + key + " is '" + v + "', not an integer");
    }
  }
}
