package io.ferry.onnx;

/**
 * The rules for an initializer's external data {@code location}: a relative path inside the directory of the
 * {@code .onnx} file. ONNX itself has let locations escape that directory (absolute paths, {@code ..}, links); Ferry
 * refuses them when it reads the model, and {@link OnnxExternalDataFormat} then requires the location to be a file of
 * the pushed model (which the scan already keeps free of links that leave it).
 */
final class ExternalPaths {
  private ExternalPaths() {}

  /** Why a location is refused, or null if it is a relative path that stays inside the model's directory. */
  static String problem(String location) {
    if (location.isEmpty()) {
      return "is empty";
    }
    if (location.indexOf('\0') >= 0) {
      return "contains a NUL character";
    }
    String p = location.replace('\\', '/');
    if (p.startsWith("/") || p.length() >= 2 && p.charAt(1) == ':') {
      return "is an absolute path; external data must lie in the model's directory";
    }
    String[] parts = p.split("/", -1);
    for (String part : parts) {
      if (part.equals("..")) {
        return "leaves the model's directory ('..'); external data must lie in it";
      }
    }
    String last = parts[parts.length - 1];
    if (last.isEmpty() || last.equals(".")) {
      // normalize() would drop the ending and name a file, which neither onnx nor onnxruntime opens
      return "ends with '" + (last.isEmpty() ? location.charAt(location.length() - 1) : "/.")
          + "', so it names a directory, not a file";
    }
    return null;
  }

  /** The location '/'-separated, without {@code .} and empty components. */
  static String normalize(String location) {
    StringBuilder b = new StringBuilder();
    for (String part : location.replace('\\', '/').split("/")) {
      if (!part.isEmpty() && !part.equals(".")) {
        b.append(b.length() == 0 ? "" : "/").append(part);
      }
    }
    return b.toString();
  }
}
