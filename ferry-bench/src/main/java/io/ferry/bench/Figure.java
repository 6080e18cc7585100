package io.ferry.bench;

import java.util.Locale;

/**
 * One line of BENCHMARKS.md: a Ferry measurement against a baseline measured in the same run. Time figures pass when
 * {@code ferry / baseline <= target}; throughput figures when {@code baseline / ferry >= target} (both are times, so
 * the throughput ratio is the inverse of the time ratio).
 */
record Figure(String baseline, double baselineS, String ferry, double ferryS, boolean throughput, double target,
    String note) {

  double ratio() {
    return throughput ? baselineS / ferryS : ferryS / baselineS;
  }

  /** "pass", "FAIL", or "info" for figures without a target. */
  String verdict() {
    if (Double.isNaN(target)) {
      return "info";
    }
    boolean ok = throughput ? ratio() >= target : ratio() <= target;
    return ok ? "pass" : "**FAIL**";
  }

  String targetText() {
    if (Double.isNaN(target)) {
      return "—";
    }
    return (throughput ? "≥ " : "≤ ") + fmt(target) + "×";
  }

  String row() {
    return "| " + baseline + " | " + secs(baselineS) + " | " + ferry + " | " + secs(ferryS) + " | **" + fmt(ratio())
        + "×** | " + targetText() + " | " + verdict() + " | " + note + " |";
  }

  static String header() {
    return "| baseline | baseline best | Ferry | Ferry best | ratio | target | result | notes |\n"
        + "|---|---:|---|---:|---:|---:|---|---|";
  }

  static String fmt(double d) {
    return String.format(Locale.ROOT, d >= 10 ? "%.1f" : "%.2f", d);
  }

  static String secs(double s) {
    if (s < 0.1) {
      return String.format(Locale.ROOT, "%.2f ms", s * 1000);
    }
    return String.format(Locale.ROOT, "%.2f s", s);
  }

  /** Appends one table per section (heading {@code level}, e.g. "##"), then the section's notes. */
  static void appendSections(StringBuilder b, String level, java.util.Map<String, java.util.List<Figure>> figures,
      java.util.Map<String, java.util.List<String>> notes) {
    for (java.util.Map.Entry<String, java.util.List<Figure>> e : figures.entrySet()) {
      b.append(level).append(' ').append(e.getKey()).append("\n\n").append(header()).append('\n');
      for (Figure f : e.getValue()) {
        b.append(f.row()).append('\n');
      }
      b.append('\n');
      for (String n : notes.getOrDefault(e.getKey(), java.util.List.of())) {
        b.append(n).append("\n\n");
      }
    }
  }
}
