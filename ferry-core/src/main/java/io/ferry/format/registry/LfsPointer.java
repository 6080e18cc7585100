package io.ferry.format.registry;

import io.ferry.error.InvalidInputException;
import io.ferry.format.FormatInput;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Git LFS pointer file standing where a model's file should be: what a clone of a Hugging Face repository holds
 * when Git LFS did not fetch the files (a few lines of text: the spec's version, {@code oid sha256:<hex>},
 * {@code size <bytes>}; under 1024 bytes by the spec). A push of one would version the pointer, not the weights, and
 * say nothing, so it is refused, naming the file, what it points to and how to fetch it.
 */
final class LfsPointer {
  /** The spec's limit on a pointer file's size. */
  static final int MAX_BYTES = 1024;

  private static final Pattern POINTER = Pattern.compile(
      "version https://(?:git-lfs\\.github\\.com|hawser\\.github\\.com)/spec/v1\n(?:[a-z0-9.-]+ [^\n]*\n)*");
  private static final Pattern OID = Pattern.compile("(?m)^oid sha256:([0-9a-f]{64})$");
  private static final Pattern SIZE = Pattern.compile("(?m)^size ([0-9]{1,19})$");

  private LfsPointer() {}

  /**
   * Refuses a file that is a Git LFS pointer.
   *
   * @throws InvalidInputException naming the file, the object it points to, and what to do
   */
  static void refuse(FormatInput in) throws IOException {
    if (in.size() == 0 || in.size() >= MAX_BYTES) {
      return;
    }
    ByteBuffer b = ByteBuffer.allocate((int) in.size());
    in.readFully(b, 0);
    String text = new String(b.array(), StandardCharsets.US_ASCII);
    Matcher oid = OID.matcher(text);
    Matcher size = SIZE.matcher(text);
    if (!POINTER.matcher(text).matches() || !oid.find() || !size.find()) {
      return;
    }
    throw new InvalidInputException(in.name() + ": a Git LFS pointer (to " + size.group(1) + " bytes, oid sha256:"
        + oid.group(1).substring(0, 12) + "...), not the file itself: Git LFS did not fetch it; run 'git lfs pull'"
        + " in the clone and push again (or --opaque '" + in.name() + "' to store the pointer as it is)");
  }
}
