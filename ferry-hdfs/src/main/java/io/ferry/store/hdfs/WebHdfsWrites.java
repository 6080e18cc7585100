package io.ferry.store.hdfs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.URI;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.ipc.RemoteException;
import org.apache.hadoop.security.UserGroupInformation;

/**
 * Creating a file over WebHDFS while the NameNode sends writes to a DataNode that is down.
 *
 * <p>A WebHDFS {@code CREATE} goes to the NameNode, which redirects it to a DataNode it picks; that DataNode writes the
 * file through its own HDFS client. The NameNode keeps picking a stopped DataNode until it declares it dead (10.5
 * minutes with Hadoop's defaults), so with one of three stopped about one write in three failed for that long.
 * {@code CREATE} takes {@code excludedatanodes}, matched by the NameNode against transfer addresses ({@code
 * ip:xferPort}), while the redirect names the DataNode by its HTTP address (which is why Hadoop's own retry, which
 * excludes the HTTP address, does not help). This class sends the {@code CREATE} itself, and when the DataNode it was
 * sent to does not answer, looks that DataNode's transfer address up in the NameNode's list of DataNodes (its JMX
 * bean {@code NameNodeInfo}, {@code LiveNodes}: {@code infoAddr} and {@code xferaddr}) and sends the {@code CREATE}
 * again excluding it, up to {@value #MAX_ATTEMPTS} times. A DataNode that answers but whose own write failed on
 * the DataNodes it sent the block to ("All datanodes [...] are bad", "could only be written to 0 of the ...") gets
 * the same: those DataNodes are excluded by the transfer addresses its error names, and the create is sent again
 * (the block's DataNodes are chosen anew by the NameNode for each attempt).
 *
 * <p>Used only after a write through Hadoop's client failed on a connection; the same limits as {@link
 * WebHdfsFailover} apply (simple authentication, a NameNode named by host and port). Thread-safe (stateless).
 */
final class WebHdfsWrites {
  /** Attempts of one create that reached a DataNode or could not be excluded, the first included. */
  static final int MAX_ATTEMPTS = 8;
  /** Attempts of one create sent to a DataNode that refused the connection at once (each costs milliseconds). */
  static final int MAX_REFUSALS = 32;
  /**
   * How long a DataNode that refused a write is excluded from the first attempt of later writes. The NameNode keeps
   * sending writes to it until it declares it dead (10.5 minutes by default); one refused attempt per this period is
   * the cost of finding out that it is back.
   */
  static final long REMEMBER_REFUSED_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
  private static final String PREFIX = "/webhdfs/v1";
  private static final int TIMEOUT_MILLIS = 60_000;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final FileSystem fs;
  private final URI nameNode;
  /** DataNodes that refused a write, by transfer address, and when ({@link System#nanoTime}). */
  private final Map<String, Long> refusedAt = new java.util.concurrent.ConcurrentHashMap<>();
  /** Transfer address by HTTP address ({@code host:port}) of each DataNode in the last list read from the NameNode. */
  private volatile Map<String, String> transferByHttp = Map.of();

  /**
   * @param fs the WebHDFS client whose writes this sends again (to remove a partial file before a retry)
   * @param nameNode the NameNode's HTTP endpoint, {@code http://host:port}
   */
  WebHdfsWrites(FileSystem fs, URI nameNode) {
    this.fs = fs;
    this.nameNode = nameNode;
  }

  /**
   * Creates {@code path} (which must not exist) holding the remaining bytes of {@code parts}, on a DataNode that
   * answers. On failure throws an error saying what each attempt met, the attempts' own errors attached as suppressed.
   */
  void create(Path path, short replication, long blockSize, ByteBuffer... parts) throws IOException {
    if (UserGroupInformation.isSecurityEnabled()) {
      throw new IOException("retrying a WebHDFS write on another DataNode needs simple authentication");
    }
    List<String> remembered = recentlyRefused();
    List<String> excluded = new ArrayList<>(remembered);
    List<IOException> failures = new ArrayList<>();
    List<String> story = new ArrayList<>();
    int costly = 0;
    int refusals = 0;
    while (costly < MAX_ATTEMPTS && refusals < MAX_REFUSALS) {
      URL dataNode;
      try {
        dataNode = redirect(path, replication, blockSize, excluded);
      } catch (IOException e) {
        if (remembered.isEmpty() || !excluded.containsAll(remembered)) {
          throw summary(e, story, failures);
        }
        // the DataNodes remembered as refusing may be back and the only ones left: ask again without them
        story.add("the NameNode chose no DataNode outside " + excluded + " (" + e.getMessage() + ")");
        failures.add(e);
        excluded.removeAll(remembered);
        remembered.forEach(refusedAt::remove);
        remembered = List.of();
        costly++;
        continue;
      }
      try {
        send(dataNode, parts);
        return;
      } catch (IOException e) {
        if (!retryable(e)) {
          throw summary(e, story, failures);
        }
        failures.add(new IOException("DataNode " + dataNode.getAuthority() + " did not take the write: " + e, e));
        // what the DataNode made of the file before it failed (nothing, if it never answered)
        fs.delete(path, false);
        boolean more = false;
        String what = dataNode.getAuthority() + (refused(e) ? " refused the connection" : " failed: " + e);
        if (DataNodeErrors.isNetworkFailure(e)) {
          String xfer = transferAddress(dataNode);
          if (xfer == null) {
            what += " (not in the NameNode's list of DataNodes, so it could not be excluded)";
          } else {
            if (refused(e)) {
              refusedAt.put(xfer, System.nanoTime());
            }
            if (!excluded.contains(xfer)) {
              more = excluded.add(xfer);
            }
          }
        }
        // the DataNode answered, but its own write failed on the DataNodes it sent the block to: it names them
        java.util.regex.Matcher bad = BAD_NODE.matcher(String.valueOf(e.getMessage()));
        while (bad.find()) {
          if (!excluded.contains(bad.group(1))) {
            more = excluded.add(bad.group(1));
          }
        }
        story.add(what);
        if (refused(e)) {
          refusals++;
        } else {
          costly++;
        }
        if (!more && DataNodeErrors.isNetworkFailure(e) && !refused(e)) {
          // a DataNode that hangs and cannot be excluded would only be waited for again
          throw summary(e, story, failures);
        }
        // else try again: one that refused at once costs nothing to ask again, and the NameNode chooses anew (its
        // list of DataNodes, where the transfer address is looked up, may not have answered under load)
      }
    }
    throw summary(failures.remove(failures.size() - 1), story, failures);
  }

  /** The transfer addresses of the DataNodes that refused a write in the last {@link #REMEMBER_REFUSED_NANOS}. */
  List<String> recentlyRefused() {
    long now = System.nanoTime();
    List<String> recent = new ArrayList<>();
    for (Map.Entry<String, Long> e : refusedAt.entrySet()) {
      if (now - e.getValue() < REMEMBER_REFUSED_NANOS) {
        recent.add(e.getKey());
      } else {
        refusedAt.remove(e.getKey(), e.getValue());
      }
    }
    return recent;
  }

  /** Remembers the DataNode at transfer address {@code xfer} as having refused a write now (for tests). */
  void refusedNow(String xfer) {
    refusedAt.put(xfer, System.nanoTime());
  }

  /**
   * The error a failed create throws: what each attempt met, in one line, with the last attempt's error as the cause
   * and the earlier ones attached as suppressed.
   */
  private static IOException summary(IOException last, List<String> story, List<IOException> earlier) {
    if (story.isEmpty()) {
      return withEarlier(last, earlier);
    }
    IOException e = new IOException("the write was sent to " + story.size() + " DataNode(s) the NameNode chose: "
        + String.join("; ", story) + "; last: " + last.getMessage(), last);
    return withEarlier(e, earlier);
  }

  /**
   * Whether another DataNode may take the write: the one chosen did not answer, or answered that the DataNodes it
   * wrote to failed (its own HDFS client sends the block to DataNodes the NameNode chooses, which may be the stopped
   * one too).
   */
  static boolean retryable(IOException e) {
    return !(e instanceof java.io.InterruptedIOException)
        && (DataNodeErrors.isNetworkFailure(e) || DataNodeErrors.writeUnavailable(e) != null);
  }

  /** Whether the DataNode refused the connection at once (nothing listens on its port: it is stopped). */
  private static boolean refused(IOException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.net.ConnectException) {
        return true;
      }
    }
    return false;
  }

  /** A DataNode as Hadoop's write errors name it, {@code DatanodeInfoWithStorage[ip:xferPort,storage,type]}. */
  private static final java.util.regex.Pattern BAD_NODE =
      java.util.regex.Pattern.compile("DatanodeInfoWithStorage\\[([0-9a-fA-F.:]+:\\d+),");

  private static IOException withEarlier(IOException last, List<IOException> earlier) {
    for (IOException e : earlier) {
      if (e != last && e.getCause() != last) {
        last.addSuppressed(e);
      }
    }
    return last;
  }

  /** The DataNode URL the NameNode redirects a {@code CREATE} of {@code path} to. */
  private URL redirect(Path path, short replication, long blockSize, List<String> excluded) throws IOException {
    FsPermission permission = FsPermission.getFileDefault().applyUMask(FsPermission.getUMask(fs.getConf()));
    StringBuilder query = new StringBuilder("op=CREATE&user.name=")
        .append(encode(UserGroupInformation.getCurrentUser().getShortUserName()))
        .append("&overwrite=false&replication=").append(replication).append("&blocksize=").append(blockSize)
        .append("&permission=").append(Integer.toOctalString(permission.toShort()));
    if (!excluded.isEmpty()) {
      query.append("&excludedatanodes=").append(encode(String.join(",", excluded)));
    }
    HttpURLConnection nn = connect(new URL(nameNode + PREFIX + path.toUri().getRawPath() + "?" + query), "PUT");
    try {
      int code = nn.getResponseCode();
      String to = nn.getHeaderField("Location");
      if (code != 307 || to == null) {
        throw remoteError(nn, "the NameNode answered HTTP " + code + " to CREATE");
      }
      return new URL(to);
    } finally {
      nn.disconnect();
    }
  }

  /** Sends the bytes to the DataNode the NameNode chose; it answers 201 once the file is written and closed. */
  private static void send(URL dataNode, ByteBuffer[] parts) throws IOException {
    HttpURLConnection dn = connect(dataNode, "PUT");
    try {
      long total = 0;
      for (ByteBuffer p : parts) {
        total += p.remaining();
      }
      dn.setDoOutput(true);
      dn.setFixedLengthStreamingMode(total);
      dn.setRequestProperty("Content-Type", "application/octet-stream");
      try (OutputStream out = dn.getOutputStream()) {
        byte[] buf = new byte[(int) Math.min(Math.max(total, 1), 256 * 1024)];
        for (ByteBuffer p : parts) {
          ByteBuffer b = p.duplicate();
          while (b.hasRemaining()) {
            int n = Math.min(buf.length, b.remaining());
            b.get(buf, 0, n);
            out.write(buf, 0, n);
          }
        }
      }
      int code = dn.getResponseCode();
      if (code != HttpURLConnection.HTTP_CREATED) {
        throw remoteError(dn, "DataNode " + dataNode.getAuthority() + " answered HTTP " + code + " to CREATE");
      }
    } finally {
      dn.disconnect();
    }
  }

  /**
   * The transfer address ({@code ip:port}) of the DataNode whose HTTP address {@code dataNode} names, from the
   * NameNode's list of live DataNodes (read again when the DataNode is not in the list last read); null if it is not
   * there or the list cannot be read.
   */
  private String transferAddress(URL dataNode) {
    String key;
    try {
      key = InetAddress.getByName(dataNode.getHost()).getHostAddress() + ":" + dataNode.getPort();
    } catch (IOException e) {
      return null;
    }
    String known = transferByHttp.get(key);
    if (known != null) {
      return known;
    }
    Map<String, String> read = readDataNodes();
    if (read != null) {
      transferByHttp = read;
    }
    return read == null ? null : read.get(key);
  }

  /**
   * Transfer address by HTTP address ({@code ip:port}) of every DataNode in the NameNode's list of live DataNodes
   * (its JMX bean {@code NameNodeInfo}, {@code LiveNodes}); null if the list cannot be read.
   */
  private Map<String, String> readDataNodes() {
    try {
      HttpURLConnection c = connect(new URL(nameNode + "/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"), "GET");
      JsonNode beans;
      try (InputStream in = c.getInputStream()) {
        beans = JSON.readTree(in).path("beans");
      } finally {
        c.disconnect();
      }
      JsonNode live = JSON.readTree(beans.path(0).path("LiveNodes").asText("{}"));
      Map<String, String> byHttp = new java.util.HashMap<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = live.fields(); it.hasNext(); ) {
        JsonNode node = it.next().getValue();
        String info = node.path("infoAddr").asText("");
        String xfer = node.path("xferaddr").asText("");
        int colon = info.lastIndexOf(':');
        if (colon > 0 && !xfer.isEmpty()) {
          byHttp.put(InetAddress.getByName(info.substring(0, colon)).getHostAddress() + info.substring(colon), xfer);
        }
      }
      return Map.copyOf(byHttp);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The error in a WebHDFS error answer (a JSON {@code RemoteException}) as Hadoop's client raises it. */
  private static IOException remoteError(HttpURLConnection c, String what) {
    String body;
    try (InputStream err = c.getErrorStream()) {
      body = err == null ? "" : new String(err.readNBytes(64 * 1024), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return new IOException(what + " (its answer could not be read: " + e + ")");
    }
    try {
      JsonNode r = JSON.readTree(body).path("RemoteException");
      if (r.hasNonNull("javaClassName")) {
        return new RemoteException(r.path("javaClassName").asText(), r.path("message").asText())
            .unwrapRemoteException();
      }
    } catch (IOException | RuntimeException notJson) {
      // said below with the body as it is
    }
    return new IOException(what + ": " + (body.isBlank() ? "(no body)" : body.strip()));
  }

  private static HttpURLConnection connect(URL url, String method) throws IOException {
    HttpURLConnection c = (HttpURLConnection) url.openConnection();
    c.setInstanceFollowRedirects(false);
    c.setConnectTimeout(TIMEOUT_MILLIS);
    c.setReadTimeout(TIMEOUT_MILLIS);
    c.setRequestMethod(method);
    return c;
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
