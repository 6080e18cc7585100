package io.ferry.server.web;

import io.ferry.repo.ByteSizes;
import java.io.IOException;
import java.io.Writer;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Writes HTML a piece at a time to the response, escaping every value that did not come from this code: model names,
 * messages, authors, tensor and file names, metadata are attacker-controlled. {@link #text} escapes for element
 * content and attribute values alike ({@code & < > " '}), and shows control characters and the bidirectional
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) as {@code U+XXXX}, so that a name can neither hide
 * text nor reverse the text after it; unicode otherwise passes as it is (the page is UTF-8). Not thread-safe: one per
 * response.
 */
final class Html {
  private final Writer out;

  Html(Writer out) {
    this.out = out;
  }

  /** Writes markup written by this code (never a value from the store or the request). */
  Html raw(String markup) throws IOException {
    out.write(markup);
    return this;
  }

  /** Writes a value, escaped. */
  Html text(Object value) throws IOException {
    out.write(escape(String.valueOf(value)));
    return this;
  }

  /** Writes {@code <tag>value</tag>} with the value escaped. */
  Html el(String tag, Object value) throws IOException {
    return raw("<" + tag + ">").text(value).raw("</" + tag.split(" ", 2)[0] + ">");
  }

  /** Writes a link: {@code href} must be built by {@link #path} or {@link #query} (it is escaped again here). */
  Html link(String href, Object label) throws IOException {
    return raw("<a href=\"").text(href).raw("\">").text(label).raw("</a>");
  }

  void flush() throws IOException {
    out.flush();
  }

  /** Ends the response body. */
  void close() throws IOException {
    out.close();
  }

  /**
   * The value with {@code & < > " '} as character references, and control and bidirectional formatting characters
   * as visible U+XXXX.
   */
  static String escape(String s) {
    StringBuilder b = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      String r = switch (c) {
        case '&' -> "&amp;";
        case '<' -> "&lt;";
        case '>' -> "&gt;";
        case '"' -> "&quot;";
        case '\'' -> "&#39;";
        default -> (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || (c >= 0x80 && c < 0xa0)
            || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)
            ? String.format(Locale.ROOT, "U+%04X", (int) c) : null;
      };
      if (r != null && b == null) {
        b = new StringBuilder(s.length() + 16).append(s, 0, i);
      }
      if (b != null) {
        if (r != null) {
          b.append(r);
        } else {
          b.append(c);
        }
      }
    }
    return b == null ? s : b.toString();
  }

  /** A path segment, percent-encoded (a model name's {@code /} stays a separator: pass its parts separately). */
  static String seg(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }

  /** A model name as path segments: {@code org/name} stays two segments, each encoded. */
  static String model(String model) {
    StringBuilder b = new StringBuilder();
    for (String p : model.split("/", -1)) {
      b.append(b.length() == 0 ? "" : "/").append(seg(p));
    }
    return b.toString();
  }

  /** A query parameter value, encoded. */
  static String q(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /** Bytes as B, KiB, MiB, GiB. */
  static String bytes(long n) {
    return ByteSizes.human(n);
  }

  /** A figure with 4 significant digits, {@code 0} for zero, {@code –} for NaN. */
  static String fig(double v) {
    if (Double.isNaN(v)) {
      return "–";
    }
    if (v == 0) {
      return "0";
    }
    return String.format(Locale.ROOT, "%.4g", v);
  }
}
