package io.ferry.store.hdfs;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.web.WebHdfsFileSystem;

/**
 * Hadoop's WebHDFS client with reads that survive stopped DataNodes: a read that fails on the stream Hadoop opened
 * is served again by {@link WebHdfsFailover}, replica by replica; and Ferry's writes ({@link Durability#write}) that
 * fail on a DataNode are sent again to another by {@link #writes}. Everything else is Hadoop's. {@link HdfsSettings}
 * makes this the {@code webhdfs://} implementation of the stores' clients, so that every read of a store (marker,
 * objects, ref logs) gets it.
 */
final class FailoverWebHdfsFileSystem extends WebHdfsFileSystem {
  private volatile WebHdfsFailover failover;
  private volatile WebHdfsWrites writes;

  private WebHdfsFailover failover() {
    WebHdfsFailover f = failover;
    if (f == null) {
      f = new WebHdfsFailover(this, nameNodeHttp(), getUri().toString());
      failover = f;
    }
    return f;
  }

  /** Creates files on another DataNode when the one the NameNode chose does not answer. */
  WebHdfsWrites writes() {
    WebHdfsWrites w = writes;
    if (w == null) {
      w = new WebHdfsWrites(this, nameNodeHttp());
      writes = w;
    }
    return w;
  }

  private URI nameNodeHttp() {
    URI fsUri = getUri();
    int port = fsUri.getPort() > 0 ? fsUri.getPort() : getDefaultPort();
    return URI.create("http://" + fsUri.getHost() + ":" + port);
  }

  @Override
  public FSDataInputStream open(Path f, int bufferSize) throws IOException {
    Path qualified = makeQualified(f);
    return new FSDataInputStream(new FailoverStream(super.open(qualified, bufferSize), qualified));
  }

  /**
   * Whether a read of {@code path} at {@code position} that failed with {@code e} is worth trying on another replica:
   * not a missing file or an interrupt. An answer that ended early ({@link EOFException}) is one only when a
   * DataNode holding the block does not answer ({@link WebHdfsFailover#aReplicaIsDown}): a DataNode that stopped in
   * the middle of its answer ends it so, and so does one whose every replica fails HDFS's checksum, where the read
   * must fail as damage at once (another replica's DataNode would wait through its client's retries and then end its
   * answer too).
   */
  private boolean replicaMayHelp(Path path, long position, IOException e) {
    if (e instanceof FileNotFoundException || e instanceof InterruptedIOException) {
      return false;
    }
    return !(e instanceof EOFException) || failover().aReplicaIsDown(path, position);
  }

  /**
   * Hadoop's stream until a sequential read fails, then {@link WebHdfsFailover}; a failed positional read is served by
   * {@link WebHdfsFailover} and the next one tries Hadoop's stream again (it asks the NameNode afresh). Positional
   * reads may run concurrently, as on Hadoop's stream; sequential reads and seeks are for one thread.
   */
  private final class FailoverStream extends FSInputStream {
    private final FSDataInputStream in;
    private final Path path;
    private long pos;
    private volatile long length = -1;
    private volatile boolean failed;

    FailoverStream(FSDataInputStream in, Path path) {
      this.in = in;
      this.path = path;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!failed) {
        try {
          int n = in.read(b, off, len);
          if (n > 0) {
            pos += n;
          }
          return n;
        } catch (IOException e) {
          if (!replicaMayHelp(path, pos, e)) {
            throw e;
          }
          failed = true;
          closeQuietly();
          int n = readElsewhere(pos, b, off, len, e);
          if (n > 0) {
            pos += n;
          }
          return n;
        }
      }
      int n = readElsewhere(pos, b, off, len, null);
      if (n > 0) {
        pos += n;
      }
      return n;
    }

    @Override
    public int read(long position, byte[] b, int off, int len) throws IOException {
      if (!failed) {
        try {
          return in.read(position, b, off, len);
        } catch (IOException e) {
          if (!replicaMayHelp(path, position, e)) {
            throw e;
          }
          return readElsewhere(position, b, off, len, e);
        }
      }
      return readElsewhere(position, b, off, len, null);
    }

    /** Up to {@code len} bytes at {@code position} from any replica; -1 at the end of the file. */
    private int readElsewhere(long position, byte[] b, int off, int len, IOException cause) throws IOException {
      if (length < 0) {
        length = getFileStatus(path).getLen();
      }
      if (position >= length) {
        return -1;
      }
      int n = (int) Math.min(len, length - position);
      IOException first = cause != null ? cause
          : new IOException("reading " + path + " at " + position + ": the stream failed before and no replica served"
              + " the range");
      failover().readInto(path, position, ByteBuffer.wrap(b, off, n), first);
      return n;
    }

    @Override
    public void seek(long target) throws IOException {
      if (target < 0) {
        throw new EOFException("negative seek " + target + " in " + path);
      }
      if (!failed) {
        in.seek(target);
      }
      pos = target;
    }

    @Override
    public long getPos() {
      return pos;
    }

    @Override
    public boolean seekToNewSource(long targetPos) {
      return false;
    }

    private void closeQuietly() {
      try {
        in.close();
      } catch (IOException ignored) {
        // only read from; nothing to lose
      }
    }

    @Override
    public void close() throws IOException {
      if (!failed) {
        in.close();
      }
    }
  }
}
