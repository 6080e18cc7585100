package io.ferry.store.s3;

import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreLayers;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * Where a store lives in S3: a bucket and a key prefix, from a URI {@code s3://bucket} or {@code s3://bucket/prefix}.
 * Every key of the store starts with {@link #keyPrefix()} ({@code ""} or {@code "prefix/"}).
 *
 * @param bucket the bucket name
 * @param prefix the key prefix without leading or trailing '/', possibly empty
 */
public record S3Location(String bucket, String prefix) {
  public S3Location {
    if (bucket == null || bucket.isEmpty()) {
      throw new IllegalArgumentException("empty bucket name");
    }
    if (prefix == null || prefix.startsWith("/") || prefix.endsWith("/")) {
      throw new IllegalArgumentException("prefix '" + prefix + "' must not start or end with '/'");
    }
  }

  /** The longest prefix, in UTF-8 bytes: S3's 1,024-byte keys less the store's longest own key and its directory. */
  public static final int MAX_PREFIX_BYTES = 1024 - io.ferry.store.RecordStore.MAX_KEY_LENGTH - 32;

  /**
   * Parses {@code s3://bucket[/prefix]}.
   *
   * @throws InvalidInputException if the URI is not of that form (names the URI and the problem)
   */
  public static S3Location parse(URI uri) throws InvalidInputException {
    if (uri == null || !"s3".equalsIgnoreCase(uri.getScheme())) {
      throw new InvalidInputException("'" + uri + "' is not an s3:// URI");
    }
    String bucket = uri.getRawAuthority();
    if (bucket == null || bucket.isEmpty()) {
      throw new InvalidInputException("'" + uri + "' names no bucket: expected s3://bucket/prefix");
    }
    if (!bucket.matches("[a-z0-9][a-z0-9._-]{1,254}")) {
      throw new InvalidInputException("'" + uri + "': bucket name '" + bucket + "' is not valid (lower case letters,"
          + " digits, '.', '-', '_'; no user info or port)");
    }
    if (bucket.length() < 3 || bucket.length() > 63) {
      // no bucket can have such a name: AWS and S3-compatible stores answered only that it does not exist
      throw new InvalidInputException("'" + uri + "': bucket name '" + bucket + "' is " + bucket.length()
          + " characters long; S3 bucket names are 3 to 63 characters");
    }
    if (!Character.isLetterOrDigit(bucket.charAt(bucket.length() - 1))) {
      throw new InvalidInputException("'" + uri + "': bucket name '" + bucket + "' ends with '"
          + bucket.charAt(bucket.length() - 1) + "'; S3 bucket names begin and end with a letter or digit");
    }
    if (bucket.contains("..")) {
      throw new InvalidInputException("'" + uri + "': bucket name '" + bucket + "' has two adjacent periods, which S3"
          + " bucket names cannot have");
    }
    if (bucket.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
      throw new InvalidInputException("'" + uri + "': bucket name '" + bucket + "' is an IP address, which S3 bucket"
          + " names cannot be");
    }
    if (uri.getRawFragment() != null) {
      throw new InvalidInputException("'" + uri + "': a fragment is not supported; pass settings instead"
          + " (e.g. --s3-endpoint)");
    }
    for (String key : StoreLayers.query(uri).keySet()) {
      if (!key.equals(StoreLayers.SETTING)) {
        // the query holds only core's option (the layers over the store, read by core from the same query)
        throw new InvalidInputException("'" + uri + "': query option '" + key + "' is not supported: the query"
            + " takes only '" + StoreLayers.SETTING + "'; pass other settings instead (e.g. --s3-endpoint)");
      }
    }
    String path = uri.getPath() == null ? "" : uri.getPath();
    if (path.indexOf('\uFFFD') >= 0 && !validUtf8(uri.getRawPath())) {
      // the URI decoder put U+FFFD in place of the bytes: the store would live under a prefix the user did not write
      throw new InvalidInputException("'" + uri + "': prefix '" + uri.getRawPath().replaceFirst("^/+", "")
          + "' is not valid UTF-8 once its %-escapes are decoded; S3 keys are UTF-8");
    }
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c < 0x20 || c >= 0x7f && c <= 0x9f) {
        // S3 lists keys in XML, which cannot carry most control characters (the listing failed to parse after ten
        // attempts) and turns a CR into a LF; and the prefix reached terminals in messages as it was
        throw new InvalidInputException("'" + uri.toASCIIString() + "': prefix has the control character "
            + String.format("U+%04X", (int) c) + " at character " + i + "; S3 listings (XML) cannot carry it:"
            + " name the prefix without control characters");
      }
    }
    while (path.startsWith("/")) {
      path = path.substring(1);
    }
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    if (path.contains("//")) {
      throw new InvalidInputException("'" + uri + "': prefix '" + path + "' has an empty path segment");
    }
    for (String segment : path.split("/", -1)) {
      // HTTP clients and S3 endpoints resolve '.' and '..' in a request's path but not in a listing's prefix
      // parameter: s3://bkt/x/../a read and wrote the store at 'a' while its listings (gc, ls) looked under 'x/../a/'
      if (segment.equals(".") || segment.equals("..")) {
        throw new InvalidInputException("'" + uri + "': prefix '" + path + "' has a '" + segment + "' path segment;"
            + " name the prefix without '.' or '..'");
      }
    }
    int bytes = path.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_PREFIX_BYTES) {
      String text = uri.toString();
      throw new InvalidInputException("'" + (text.length() > 80 ? text.substring(0, 80) + "..." : text)
          + "': its prefix is " + bytes + " bytes"
          + " long, more than " + MAX_PREFIX_BYTES + ": S3 keys end at 1,024 bytes, and the store's own keys (ref logs"
          + " and records, up to " + io.ferry.store.RecordStore.MAX_KEY_LENGTH + " characters) must fit after it");
    }
    return new S3Location(bucket, path);
  }

  /** Whether the bytes a raw URI path's %-escapes and characters stand for are valid UTF-8. */
  private static boolean validUtf8(String rawPath) {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    for (int i = 0; i < rawPath.length(); i++) {
      char c = rawPath.charAt(i);
      if (c == '%' && i + 2 < rawPath.length()) {
        int hi = Character.digit(rawPath.charAt(i + 1), 16);
        int lo = Character.digit(rawPath.charAt(i + 2), 16);
        if (hi >= 0 && lo >= 0) {
          bytes.write(hi << 4 | lo);
          i += 2;
          continue;
        }
      }
      byte[] b = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
      bytes.write(b, 0, b.length);
    }
    try {
      StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
          .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(bytes.toByteArray()));
      return true;
    } catch (java.nio.charset.CharacterCodingException e) {
      return false;
    }
  }

  /** The prefix every key of the store starts with: {@code ""} or {@code "prefix/"}. */
  public String keyPrefix() {
    return prefix.isEmpty() ? "" : prefix + "/";
  }

  /** The full key of a key relative to the store's root. */
  public String key(String relative) {
    return keyPrefix() + relative;
  }

  /**
   * {@code s3://bucket/prefix}, with the characters of the prefix that a URI's path cannot hold as they are ('%', '?',
   * '#', spaces...) %-escaped, so that {@link #parse} of it gives this location again: commands print it, suggest it
   * in {@code --store}, and {@code init --json} hands it to scripts.
   */
  public String uri() {
    return prefix.isEmpty() ? "s3://" + bucket : asUri("/" + prefix);
  }

  /**
   * {@code s3://bucket} and a path, %-escaped where the path cannot hold a character as it is, and where a character
   * is invisible: a format character such as U+202E (right-to-left override) would reorder the rest of the message it
   * is printed in.
   */
  private String asUri(String path) {
    String quoted;
    try {
      // with the bucket as an authority, not a host: 'a_b' and 'a-.b' are bucket names but no host names
      quoted = new URI("s3", bucket, path, null, null).toString();
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException("path '" + path + "' of bucket '" + bucket + "' makes no URI", e);
    }
    StringBuilder out = new StringBuilder(quoted.length());
    quoted.codePoints().forEach(c -> {
      if (Character.getType(c) == Character.FORMAT) {
        for (byte b : new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8)) {
          out.append('%').append(String.format("%02X", b & 0xff));
        }
      } else {
        out.appendCodePoint(c);
      }
    });
    return out.toString();
  }

  /** {@code s3://bucket/key}, for messages, %-escaped as {@link #uri()} is. */
  public String describeKey(String key) {
    return asUri("/" + key);
  }
}
