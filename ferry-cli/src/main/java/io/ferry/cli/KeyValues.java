package io.ferry.cli;

import java.util.LinkedHashMap;

/**
 * The values of a repeatable {@code KEY=VALUE} option, in the order given, remembering the first key given twice:
 * picocli puts each pair into the map, so a second {@code --meta k=w} would silently replace {@code k=v}. The command
 * refuses it ({@link #repeatedProblem}).
 */
final class KeyValues extends LinkedHashMap<String, String> {
  private static final long serialVersionUID = 1L;

  /** The first key given twice, with both its values, or null. */
  private String repeated;

  @Override
  public String put(String key, String value) {
    String old = super.put(key, value);
    if (old != null && repeated == null) {
      repeated = key + " is given twice ('" + key + "=" + old + "' and '" + key + "=" + value + "')";
    }
    return old;
  }

  @Override
  public void putAll(java.util.Map<? extends String, ? extends String> m) {
    m.forEach(this::put);
  }

  /** A usage error message naming the first key given twice to {@code option}, or null when none was. */
  String repeatedProblem(String option) {
    return repeated == null ? null : option + " " + repeated + "; give each key once";
  }
}
