package io.ferry.repo;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;

/**
 * "Did you mean" for names that do not exist: the existing names within a small edit distance of what was typed, for
 * not-found messages (of models and tags here, of subcommands in the CLI). Stateless.
 */
public final class Suggestions {
  /** Names further than this many single-character edits from what was typed are not suggested. */
  public static final int MAX_DISTANCE = 2;
  /** At most this many names are suggested. */
  private static final int MAX_NAMES = 3;

  private Suggestions() {}

  /**
   * {@code "; did you mean 'llama'?"} (or {@code 'a' or 'b'}) for the names within {@link #MAX_DISTANCE} of {@code
   * typed}, closest first then by name; empty when none is.
   */
  public static String didYouMean(String typed, Collection<String> existing) {
    List<String> near = near(typed, existing);
    if (near.isEmpty()) {
      return "";
    }
    StringBuilder b = new StringBuilder("; did you mean ");
    for (int i = 0; i < near.size(); i++) {
      b.append(i == 0 ? "" : i == near.size() - 1 ? " or " : ", ").append('\'').append(near.get(i)).append('\'');
    }
    return b.append('?').toString();
  }

  /**
   * The existing names within {@link #MAX_DISTANCE} edits of {@code typed} (a name that differs only in case first),
   * closest first, at most three.
   */
  public static List<String> near(String typed, Collection<String> existing) {
    List<List<String>> byDistance = new ArrayList<>();
    for (int d = 0; d <= MAX_DISTANCE; d++) {
      byDistance.add(new ArrayList<>());
    }
    for (String name : new TreeSet<>(existing)) {
      if (name.equals(typed) || Math.abs(name.length() - typed.length()) > MAX_DISTANCE) {
        continue;
      }
      int d = name.equalsIgnoreCase(typed) ? 0 : distance(typed, name);
      if (d <= MAX_DISTANCE) {
        byDistance.get(d).add(name);
      }
    }
    List<String> out = new ArrayList<>();
    for (List<String> names : byDistance) {
      for (String n : names) {
        if (out.size() < MAX_NAMES) {
          out.add(n);
        }
      }
    }
    return out;
  }

  /** Levenshtein distance: single-character insertions, deletions and substitutions (case counts). */
  public static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(sub, Math.min(prev[j], cur[j - 1]) + 1);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
