package io.ferry.repo;

import java.math.BigDecimal;
import java.math.RoundingMode;

/** Byte counts as people read them, the way the CLI and the store browser show sizes. */
public final class ByteSizes {
  private static final String[] UNITS = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

  private ByteSizes() {}

  /** {@code 512 B}, {@code 1.5 KiB}, {@code 400.0 GiB}: bytes below 1 KiB exactly, else one decimal of the unit. */
  public static String human(long n) {
    if (n < 1024) {
      return n + " B";
    }
    double v = n;
    int u = -1;
    while (v >= 1024 && u < UNITS.length - 1) {
      v /= 1024;
      u++;
    }
    // what String.format("%.1f") prints (the shortest decimal of v, rounded half up), without the Formatter, whose
    // locale data is a noticeable part of a short command's start-up
    return BigDecimal.valueOf(v).setScale(1, RoundingMode.HALF_UP).toPlainString() + " " + UNITS[u];
  }
}
