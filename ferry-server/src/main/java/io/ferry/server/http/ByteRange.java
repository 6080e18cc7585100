package io.ferry.server.http;

/**
 * One byte range of a representation of known length, from an HTTP {@code Range} header: bytes {@code [first, last]}
 * inclusive, as the header writes them. Only single ranges are served; an inverted range or one that starts past the
 * end is refused, and a header in a unit other than bytes or with several ranges is ignored (the whole
 * representation), as HTTP allows. Empty list elements ({@code bytes=5-9,}) are skipped, as HTTP's lists have them.
 *
 * @param first the first byte, 0-based
 * @param last the last byte, inclusive, within the representation
 */
public record ByteRange(long first, long last) {
  /** Longest {@code Range} header read; longer ones are refused without parsing. */
  private static final int MAX_HEADER = 200;

  public ByteRange {
    if (first < 0 || last < first) {
      throw new IllegalArgumentException("byte range " + first + "-" + last + " is empty or negative");
    }
  }

  /** Number of bytes in the range. */
  public long length() {
    return last - first + 1;
  }

  /** The {@code Content-Range} value for a representation of {@code size} bytes. */
  public String contentRange(long size) {
    return "bytes " + first + "-" + last + "/" + size;
  }

  /**
   * Parses a {@code Range} header against a representation of {@code size} bytes.
   *
   * @return the range, or null when the header is absent, its unit is not bytes or it asks for several ranges (the
   *     whole representation)
   * @throws HttpError 416 for a range that cannot be satisfied (inverted, starting at or past the end, an empty
   *     suffix) or that is not a byte range at all
   */
  public static ByteRange parse(String header, long size) throws HttpError {
    if (header == null) {
      return null;
    }
    if (header.length() > MAX_HEADER) {
      throw unsatisfiable(header.substring(0, 40) + "...", size, "the header is " + header.length()
          + " characters long");
    }
    String h = header.trim();
    int eq = h.indexOf('=');
    if (eq < 0) {
      throw unsatisfiable(header, size, "no '=' after the range unit");
    }
    if (!h.substring(0, eq).trim().equalsIgnoreCase("bytes")) {
      return null; // a unit the server does not know: ignored, the whole representation (RFC 9110, 14.2)
    }
    String spec = null;
    for (String element : h.substring(eq + 1).split(",", -1)) {
      if (element.isBlank()) {
        continue; // an empty list element, which a recipient ignores (RFC 9110, 5.6.1): "bytes=5-9," is one range
      }
      if (spec != null) {
        // several ranges would need a multipart answer: ignored, as RFC 9110 (14.2) lets a server do; a 416 says
        // that none of them can be satisfied, and a client asking for bytes that exist has nothing to correct
        return null;
      }
      spec = element.trim();
    }
    if (spec == null) {
      throw unsatisfiable(header, size, "no range in the list");
    }
    int dash = spec.indexOf('-');
    if (dash < 0) {
      throw unsatisfiable(header, size, "no '-' in the range");
    }
    String a = spec.substring(0, dash).trim();
    String b = spec.substring(dash + 1).trim();
    if (a.isEmpty()) {
      long n = number(b, header, size);
      if (n == 0 || size == 0) {
        throw unsatisfiable(header, size, "an empty suffix");
      }
      return new ByteRange(Math.max(0, size - n), size - 1);
    }
    long first = number(a, header, size);
    if (first >= size) {
      throw unsatisfiable(header, size, "it starts at byte " + a + ", past the end ("
          + (size == 0 ? "there are no bytes" : "the last byte is " + (size - 1)) + ")");
    }
    long last = b.isEmpty() ? size - 1 : number(b, header, size);
    if (last < first) {
      throw unsatisfiable(header, size, "the range is inverted (" + first + " > " + last + ")");
    }
    return new ByteRange(first, Math.min(last, size - 1));
  }

  /**
   * A byte position or suffix length; one past {@link Long#MAX_VALUE} is past the end of any representation, and reads
   * as {@link Long#MAX_VALUE} (a last position or suffix that large is cut at the end, a first one is refused).
   */
  private static long number(String digits, String header, long size) throws HttpError {
    if (digits.isEmpty()) {
      throw unsatisfiable(header, size, "'" + digits + "' is not a byte position");
    }
    for (int i = 0; i < digits.length(); i++) {
      if (digits.charAt(i) < '0' || digits.charAt(i) > '9') {
        throw unsatisfiable(header, size, "'" + digits + "' is not a byte position");
      }
    }
    try {
      return Long.parseLong(digits);
    } catch (NumberFormatException e) {
      return Long.MAX_VALUE;
    }
  }

  private static HttpError unsatisfiable(String header, long size, String why) {
    return new RangeError(header, size, why);
  }

  /** A 416 that knows the representation's size, for the {@code Content-Range: bytes *&#47;size} header. */
  public static final class RangeError extends HttpError {
    private final long size;

    RangeError(String header, long size, String why) {
      super(416, "range-not-satisfiable", "Range '" + header + "' cannot be served for " + size + " bytes: " + why);
      this.size = size;
    }

    public long size() {
      return size;
    }
  }
}
