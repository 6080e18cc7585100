package io.ferry.store.hdfs;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.security.UserGroupInformation;

/**
 * Range reads over WebHDFS that go to each replica in turn, for when the read through Hadoop's WebHDFS client failed.
 *
 * <p>Why Ferry does this itself: the NameNode redirects a WebHDFS {@code OPEN} to a DataNode holding the range, and
 * keeps choosing a stopped DataNode until it declares it dead (10.5 minutes with Hadoop's defaults). Hadoop's client
 * does retry with the failed DataNode in {@code excludedatanodes}, but names it by its HTTP address, while the
 * NameNode matches that parameter against transfer addresses ({@code ip:xferPort}), so the exclusion has no effect
 * and the retry goes to the dead node as often as the first try did. This class asks the NameNode for the replicas of
 * the block at the range's start ({@code GETFILEBLOCKLOCATIONS}, which names them by transfer address), then opens
 * the range once per replica, excluding all the others, until one replica serves it.
 *
 * <p>Only for clusters with simple authentication ({@code user.name}) reached at a NameNode's host and port (not an HA
 * nameservice); on a secured cluster {@link #readInto} reports the original failure, and with a nameservice the
 * replica reads fail and are attached to it. Thread-safe (stateless).
 */
final class WebHdfsFailover {
  private static final String PREFIX = "/webhdfs/v1";
  private static final int TIMEOUT_MILLIS = 60_000;
  /** How long a DataNode's transfer address may take to accept a connection before it counts as down. */
  private static final int PROBE_MILLIS = 5_000;

  private final FileSystem fs;
  private final URI nameNode;
  private final String uri;

  /**
   * @param fs the WebHDFS client whose reads this serves again
   * @param nameNode the NameNode's HTTP endpoint, {@code http://host:port}
   * @param uri the file system, for messages
   */
  WebHdfsFailover(FileSystem fs, URI nameNode, String uri) {
    this.fs = fs;
    this.nameNode = nameNode;
    this.uri = uri;
  }

  /**
   * Reads {@code dst.remaining()} bytes of {@code path} from {@code offset}, trying each replica of the range's first
   * block. On failure {@code first} is thrown (what the regular read saw), with every replica's failure attached.
   */
  void readInto(Path path, long offset, ByteBuffer dst, IOException first) throws IOException {
    if (UserGroupInformation.isSecurityEnabled()) {
      throw first;
    }
    int start = dst.position();
    List<String> replicas;
    try {
      replicas = replicasAt(path, offset);
    } catch (IOException e) {
      first.addSuppressed(e);
      throw first;
    }
    for (String replica : replicas) {
      List<String> others = new ArrayList<>(replicas);
      others.remove(replica);
      try {
        readFrom(path, offset, dst, others);
        return;
      } catch (IOException e) {
        dst.position(start);
        first.addSuppressed(new IOException("object file " + path + " in " + uri + ": reading bytes [" + offset
            + ", " + (offset + dst.remaining()) + ") from replica " + replica + " failed: " + e, e));
      }
    }
    throw first;
  }

  /**
   * Whether a DataNode holding a replica of the block at {@code offset} of {@code path} refuses connections to its
   * transfer address, or does not take one within a few seconds: the sign of a DataNode that stopped (in the middle of
   * an answer, say). False when every one takes a connection, and when the NameNode cannot say which hold the block.
   */
  boolean aReplicaIsDown(Path path, long offset) {
    List<String> replicas;
    try {
      replicas = replicasAt(path, offset);
    } catch (IOException e) {
      return false;
    }
    for (String replica : replicas) {
      int colon = replica.lastIndexOf(':');
      try (java.net.Socket s = new java.net.Socket()) {
        s.connect(new java.net.InetSocketAddress(replica.substring(0, colon),
            Integer.parseInt(replica.substring(colon + 1))), PROBE_MILLIS);
      } catch (IOException | RuntimeException down) {
        return true;
      }
    }
    return false;
  }

  private List<String> replicasAt(Path path, long offset) throws IOException {
    BlockLocation[] blocks = fs.getFileBlockLocations(path, offset, 1);
    List<String> names = new ArrayList<>();
    if (blocks.length > 0) {
      names.addAll(List.of(blocks[0].getNames()));
    }
    if (names.isEmpty()) {
      throw new IOException("object file " + path + " in " + uri + ": the NameNode lists no replica of the block at "
          + offset);
    }
    return names;
  }

  /** One WebHDFS OPEN of the range with {@code excluded} replicas left out, following the NameNode's redirect. */
  private void readFrom(Path path, long offset, ByteBuffer dst, List<String> excluded) throws IOException {
    int length = dst.remaining();
    StringBuilder query = new StringBuilder("op=OPEN&user.name=")
        .append(encode(UserGroupInformation.getCurrentUser().getShortUserName()))
        .append("&offset=").append(offset).append("&length=").append(length);
    if (!excluded.isEmpty()) {
      query.append("&excludedatanodes=").append(encode(String.join(",", excluded)));
    }
    URL open = new URL(nameNode + PREFIX + path.toUri().getRawPath() + "?" + query);
    HttpURLConnection nn = connect(open);
    URL location;
    try {
      int code = nn.getResponseCode();
      if (code == HttpURLConnection.HTTP_OK) {
        // a gateway such as HttpFS serves the bytes itself
        readBody(nn, dst);
        return;
      }
      String to = nn.getHeaderField("Location");
      if (code != 307 || to == null) {
        throw new IOException("the NameNode answered HTTP " + code + " to OPEN: " + errorBody(nn));
      }
      location = new URL(to);
    } finally {
      nn.disconnect();
    }
    HttpURLConnection dn = connect(location);
    try {
      int code = dn.getResponseCode();
      if (code != HttpURLConnection.HTTP_OK) {
        throw new IOException("DataNode " + location.getAuthority() + " answered HTTP " + code + ": "
            + errorBody(dn));
      }
      readBody(dn, dst);
    } finally {
      dn.disconnect();
    }
  }

  private static HttpURLConnection connect(URL url) throws IOException {
    HttpURLConnection c = (HttpURLConnection) url.openConnection();
    c.setInstanceFollowRedirects(false);
    c.setConnectTimeout(TIMEOUT_MILLIS);
    c.setReadTimeout(TIMEOUT_MILLIS);
    c.setRequestMethod("GET");
    return c;
  }

  private static void readBody(HttpURLConnection c, ByteBuffer dst) throws IOException {
    int want = dst.remaining();
    byte[] buf = new byte[Math.min(want, 256 * 1024)];
    try (InputStream in = c.getInputStream()) {
      while (dst.hasRemaining()) {
        int n = in.read(buf, 0, Math.min(buf.length, dst.remaining()));
        if (n < 0) {
          throw new IOException("response ended after " + (want - dst.remaining()) + " of " + want + " bytes");
        }
        dst.put(buf, 0, n);
      }
    }
  }

  private static String errorBody(HttpURLConnection c) {
    try (InputStream err = c.getErrorStream()) {
      if (err == null) {
        return "(no body)";
      }
      String s = new String(err.readNBytes(2048), StandardCharsets.UTF_8).strip();
      return s.isEmpty() ? "(no body)" : s;
    } catch (IOException e) {
      return "(body unreadable: " + e + ")";
    }
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
