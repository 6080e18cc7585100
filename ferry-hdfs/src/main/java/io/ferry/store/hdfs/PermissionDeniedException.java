package io.ferry.store.hdfs;

import java.io.IOException;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.security.AccessControlException;

/**
 * A call the NameNode refused for the permissions of the user who made it (HDFS's permission checks, or an
 * authorization plugin's), said in one line that names the store, what was refused and Hadoop's reason (its first
 * line, which names the user, the access and the inode); Hadoop's error, followed over {@code hdfs://} by the
 * NameNode's stack trace, is the cause. An I/O error (exit 1), as a local store's "permission denied".
 */
final class PermissionDeniedException extends IOException {
  private PermissionDeniedException(String message, Throwable cause) {
    super(message, cause);
  }

  /**
   * The error for {@code e} if it (or a cause of it) is Hadoop's refusal for permissions: {@code <store>: permission
   * denied <what>: <Hadoop's first line>}; else {@code e} itself, as it is also when it says so already or is one of
   * Ferry's own errors.
   *
   * @param what what was refused, e.g. {@code "writing object <id>"}
   */
  static IOException named(String store, String what, IOException e) {
    if (e instanceof PermissionDeniedException || e instanceof io.ferry.error.FerryException) {
      return e;
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof PermissionDeniedException named) {
        return named;
      }
      if (t instanceof AccessControlException || t instanceof RemoteException r
          && r.getClassName() != null && r.getClassName().endsWith("AccessControlException")) {
        String m = String.valueOf(t.getMessage()).strip();
        int nl = m.indexOf('\n');
        return new PermissionDeniedException(store + ": permission denied " + what + ": "
            + (nl < 0 ? m : m.substring(0, nl).strip()), e);
      }
    }
    return e;
  }
}
