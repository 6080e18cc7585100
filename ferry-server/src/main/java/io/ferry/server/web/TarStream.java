package io.ferry.server.web;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a POSIX tar (ustar, with a pax header for a path that does not fit or is not ASCII, and for a size beyond the
 * ustar field) to a stream, one file at a time: each file's bytes go straight through, so a version of any size is
 * archived with one block of memory. Not thread-safe.
 */
final class TarStream {
  /** Writes a file's content to the stream it is given. */
  @FunctionalInterface
  interface Content {
    void writeTo(OutputStream out) throws IOException;
  }

  private static final int BLOCK = 512;
  private static final long USTAR_MAX_SIZE = 077777777777L;
  private final OutputStream out;
  private final long mtime;

  TarStream(OutputStream out, long mtime) {
    this.out = out;
    this.mtime = mtime;
  }

  /**
   * Adds a regular file of {@code size} bytes.
   *
   * @throws IOException if the content is not {@code size} bytes (the archive is then not whole: the caller must
   *     fail the response)
   */
  void file(String path, long size, Content content) throws IOException {
    byte[] name = path.getBytes(StandardCharsets.UTF_8);
    boolean ascii = name.length == path.length();
    if (!ascii || name.length > 100 || size > USTAR_MAX_SIZE) {
      StringBuilder pax = new StringBuilder();
      pax.append(record("path", path));
      if (size > USTAR_MAX_SIZE) {
        pax.append(record("size", Long.toString(size)));
      }
      byte[] body = pax.toString().getBytes(StandardCharsets.UTF_8);
      out.write(header("PaxHeaders/" + ascii(path), body.length, 'x'));
      out.write(body);
      pad(body.length);
    }
    out.write(header(ascii(path), size > USTAR_MAX_SIZE ? 0 : size, '0'));
    long[] count = new long[1];
    OutputStream counting = new FilterOutputStream(out) {
      @Override
      public void write(int b) throws IOException {
        out.write(b);
        count[0]++;
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
        count[0] += len;
      }

      @Override
      public void close() {
        // the archive goes on
      }
    };
    content.writeTo(counting);
    if (count[0] != size) {
      throw new IOException("tar entry '" + path + "': wrote " + count[0] + " bytes, expected " + size);
    }
    pad(size);
  }

  /** Ends the archive (two zero blocks) and flushes. */
  void finish() throws IOException {
    out.write(new byte[2 * BLOCK]);
    out.flush();
  }

  private void pad(long size) throws IOException {
    int rest = (int) (size % BLOCK);
    if (rest != 0) {
      out.write(new byte[BLOCK - rest]);
    }
  }

  /** A pax record {@code "LEN key=value\n"}, where LEN counts the whole record, its own digits included. */
  static String record(String key, String value) {
    int body = key.length() + value.getBytes(StandardCharsets.UTF_8).length + 3; // space, '=', newline
    int len = body + Integer.toString(body).length();
    if (Integer.toString(len).length() != Integer.toString(body).length()) {
      len++;
    }
    return len + " " + key + "=" + value + "\n";
  }

  /** The path cut to a 100-byte ASCII name (the pax header holds the real one). */
  private static String ascii(String path) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < path.length() && b.length() < 100; i++) {
      char c = path.charAt(i);
      b.append(c >= 0x20 && c < 0x7f ? c : '_');
    }
    return b.toString();
  }

  private byte[] header(String name, long size, char type) {
    byte[] h = new byte[BLOCK];
    put(h, 0, 100, name);
    put(h, 100, 8, "0000644");
    put(h, 108, 8, "0000000");
    put(h, 116, 8, "0000000");
    put(h, 124, 12, String.format("%011o", size));
    put(h, 136, 12, String.format("%011o", Math.max(0, Math.min(mtime, 077777777777L))));
    for (int i = 148; i < 156; i++) {
      h[i] = ' ';
    }
    h[156] = (byte) type;
    put(h, 257, 6, "ustar");
    h[263] = '0';
    h[264] = '0';
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    put(h, 148, 6, String.format("%06o", sum));
    h[154] = 0;
    h[155] = ' ';
    return h;
  }

  private static void put(byte[] h, int at, int len, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(b, 0, h, at, Math.min(len, b.length));
  }
}
