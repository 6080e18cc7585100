package io.ferry.store.hdfs;

import java.io.IOException;
import java.net.URI;
import java.util.regex.Pattern;
import org.apache.hadoop.hdfs.protocol.QuotaExceededException;
import org.apache.hadoop.hdfs.server.namenode.SafeModeException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.security.AccessControlException;

/**
 * A call the NameNode refused for a reason a user can act on, said in one line that names the store, what was refused
 * and the NameNode's reason: the user's permissions (HDFS's permission checks, or an authorization plugin's), safe
 * mode (read-only), or a quota of files and directories or of space; and a NameNode that cannot be reached any
 * more. Hadoop's error (over {@code hdfs://} followed by
 * the NameNode's stack trace) is the cause. An I/O error (exit 1), as a local store's "permission denied" or "no space
 * left on device".
 */
final class NameNodeRefusal extends IOException {
  private NameNodeRefusal(String message, Throwable cause) {
    super(message, cause);
  }

  /**
   * The error for {@code e} if it (or a cause of it) is such a refusal: {@code <store>: permission denied <what>:
   * <reason>}, {@code <store>: <what> refused: the NameNode is in safe mode ...} or {@code <store>: <what> refused:
   * <the quota's reason>}; else {@code e} itself, as it is also when it says so already or is one of Ferry's own
   * errors.
   *
   * @param what what was refused, e.g. {@code "writing object <id>"}
   */
  static IOException named(String store, String what, IOException e) {
    if (e instanceof NameNodeRefusal || e instanceof io.ferry.error.FerryException) {
      return e;
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof NameNodeRefusal named) {
        return named;
      }
      if (is(t, AccessControlException.class)) {
        return new NameNodeRefusal(store + ": permission denied " + what + ": " + reason(t), e);
      }
      if (is(t, SafeModeException.class)) {
        return new NameNodeRefusal(store + ": " + what + " refused: the NameNode is in safe mode, where it is"
            + " read-only: " + reason(t), e);
      }
      if (is(t, QuotaExceededException.class)) {
        return new NameNodeRefusal(store + ": " + what + " refused: " + reason(t), e);
      }
    }
    return gone(store, what, e);
  }

  /**
   * A call whose connection to the NameNode failed (the NameNode stopped, crashed, or
   * its host went away while the store was open): {@code <store>: cannot reach the NameNode at <host:port> while
   * <what> (<the failure>)}; else {@code e}. Hadoop's error named the NameNode's address and a wiki page, but neither
   * the store nor the object.
   */
  private static IOException gone(String store, String what, IOException e) {
    URI uri;
    try {
      uri = URI.create(store);
    } catch (IllegalArgumentException notAUri) {
      return e;
    }
    if (!"hdfs".equalsIgnoreCase(uri.getScheme()) && !"webhdfs".equalsIgnoreCase(uri.getScheme())) {
      return e;
    }
    if (uri.getPort() < 0) {
      return "hdfs".equalsIgnoreCase(uri.getScheme()) ? goneWithoutPort(store, uri, what, e) : e;
    }
    // Hadoop's clients name the address of the call that failed, "host:port" or "\"host\":port": the NameNode's,
    // not a DataNode's (over WebHDFS, one that a redirect sent the client to)
    Pattern nameNode = Pattern.compile("(^|[^\\w.-])\"?" + Pattern.quote(String.valueOf(uri.getHost())) + "\"?:"
        + uri.getPort() + "(\\D|$)");
    for (Throwable t = e; t != null; t = t.getCause()) {
      if ((t instanceof java.net.ConnectException || t instanceof java.net.SocketTimeoutException
          || t instanceof java.io.EOFException || t instanceof java.net.SocketException
          || t instanceof java.net.UnknownHostException) && t.getMessage() != null
          && nameNode.matcher(t.getMessage()).find()) {
        return new NameNodeRefusal(store + ": cannot reach the NameNode at " + uri.getAuthority() + " while " + what
            + " (" + why(t) + ")", e);
      }
    }
    return e;
  }

  /** Where Hadoop's RPC client names the address a call failed to reach (its NetUtils.wrapException messages). */
  private static final Pattern RPC_ADDRESS = Pattern.compile(
      "Call From \\S+ to (\\S+:\\d+) failed on|destination host is: \"?([^\";\\s]+)\"?:(\\d+)");

  /**
   * {@link #gone} for an {@code hdfs://} URI without a port (an HA nameservice, or a NameNode at Hadoop's default
   * port): the NameNode is named by the URI's authority and the address the call failed to reach, which Hadoop's RPC
   * client gives ({@code <store>: cannot reach the NameNode at nn (host:port) while <what> (<the failure>)}). Over
   * {@code hdfs://} only calls to a NameNode go through that client; DataNodes are read and written over their own
   * streams, whose failures the client handles (other replicas) and reports otherwise.
   */
  private static IOException goneWithoutPort(String store, URI uri, String what, IOException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if ((t instanceof java.net.ConnectException || t instanceof java.net.SocketTimeoutException
          || t instanceof java.io.EOFException || t instanceof java.net.SocketException
          || t instanceof java.net.UnknownHostException) && t.getMessage() != null) {
        java.util.regex.Matcher m = RPC_ADDRESS.matcher(t.getMessage());
        if (m.find()) {
          String address = m.group(1) != null ? m.group(1) : m.group(2) + ":" + m.group(3);
          return new NameNodeRefusal(store + ": cannot reach the NameNode at " + uri.getAuthority() + " ("
              + address + ") while " + what + " (" + why(t) + ")", e);
        }
      }
    }
    return e;
  }

  /** The failure under {@code t}, said in a few words. */
  private static String why(Throwable t) {
    Throwable root = t;
    while (root.getCause() != null && root.getCause().getClass() == root.getClass()) {
      root = root.getCause();
    }
    return root instanceof java.io.EOFException && root.getMessage() == null
        ? "the connection closed before the answer (EOFException)"
        : root.getClass().getSimpleName() + (root.getMessage() == null ? "" : ": " + reason(root));
  }

  /**
   * {@link #named} for the open of a store, which also names the store for any other refusal of the NameNode: its
   * own error ({@code RemoteException}: a replication above its maximum, a block size below its minimum), or one
   * the client unwrapped from it (a file where a parent directory of the store belongs, or where the store's
   * directory belongs). Hadoop's message names a path of the NameNode but not the store. {@code <store>: <what>
   * refused by the NameNode: <reason>}; else as {@link #named}.
   */
  static IOException namedAtOpen(String store, String what, IOException e) {
    IOException named = named(store, what, e);
    if (named != e || e instanceof io.ferry.error.FerryException || String.valueOf(e.getMessage()).startsWith(store)) {
      return named;
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof RemoteException || t instanceof org.apache.hadoop.fs.ParentNotDirectoryException
          || t instanceof org.apache.hadoop.fs.FileAlreadyExistsException) {
        return new NameNodeRefusal(store + ": " + what + " refused by the NameNode: " + reason(t), e);
      }
    }
    return e;
  }

  /** Whether {@code t} is a {@code type}, or the NameNode's error of that type (or a subtype) not unwrapped. */
  private static boolean is(Throwable t, Class<? extends IOException> type) {
    if (type.isInstance(t)) {
      return true;
    }
    if (t instanceof RemoteException r && r.getClassName() != null) {
      String simple = r.getClassName().substring(r.getClassName().lastIndexOf('.') + 1);
      return simple.equals(type.getSimpleName()) || type == QuotaExceededException.class
          && simple.endsWith(type.getSimpleName());
    }
    return false;
  }

  /** The message of {@code t} on one line, without the stack trace of the NameNode that some carry. */
  private static String reason(Throwable t) {
    StringBuilder out = new StringBuilder();
    for (String line : String.valueOf(t.getMessage()).split("\n")) {
      String l = line.strip();
      if (l.isEmpty() || l.startsWith("at ")) {
        continue;
      }
      out.append(out.length() == 0 ? "" : " ").append(l);
    }
    return out.toString();
  }
}
