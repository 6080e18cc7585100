package io.ferry.store.hdfs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumSet;
import org.apache.hadoop.fs.CreateFlag;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Creating files that are durable once closed. {@code close()} of an HDFS output stream returns after every DataNode
 * of the write pipeline acknowledged every packet and the NameNode completed the file: the data is then on {@code
 * dfs.replication} DataNodes, in their memory. With {@code sync}, the file is created with {@link
 * CreateFlag#SYNC_BLOCK}, so each DataNode also forces the block to disk before acknowledging the last packet (what
 * {@code hsync()} does, without an extra round trip through the pipeline before {@code close()}).
 *
 * <p>WebHDFS has no client-side sync: the DataNode that serves the HTTP request writes through its own HDFS client
 * and closes the file; the data is then in the memory of every replica, as with {@code hflush}.
 */
final class Durability {
  private static final int COPY_CHUNK = 256 * 1024;

  private Durability() {}

  /** Creates a new file, failing if it exists. */
  static FSDataOutputStream create(FileSystem fs, Path path, boolean sync) throws IOException {
    EnumSet<CreateFlag> flags = sync ? EnumSet.of(CreateFlag.CREATE, CreateFlag.SYNC_BLOCK)
        : EnumSet.of(CreateFlag.CREATE);
    return fs.create(path, FsPermission.getFileDefault().applyUMask(FsPermission.getUMask(fs.getConf())), flags,
        fs.getConf().getInt("io.file.buffer.size", 4096), fs.getDefaultReplication(path),
        fs.getDefaultBlockSize(path), null);
  }

  /**
   * Creates a new file holding the remaining bytes of {@code parts} (whose positions are left as they were), and
   * closes it. Over WebHDFS ({@link FailoverWebHdfsFileSystem}), a write whose DataNode does not answer, or whose
   * DataNode's own write failed on the DataNodes it chose, is sent again to another DataNode, excluding those that
   * failed ({@link WebHdfsWrites}); if that fails too, the error says both what the first write and what the retries
   * met (the first as the cause, the retries' attached as suppressed).
   */
  static void write(FileSystem fs, Path path, boolean sync, ByteBuffer... parts) throws IOException {
    try (FSDataOutputStream out = create(fs, path, sync)) {
      writeAll(out, parts);
    } catch (IOException e) {
      if (!(fs instanceof FailoverWebHdfsFileSystem webHdfs) || !WebHdfsWrites.retryable(e)) {
        throw e;
      }
      try {
        fs.delete(path, false);
        webHdfs.writes().create(path, fs.getDefaultReplication(path), fs.getDefaultBlockSize(path), parts);
      } catch (java.io.InterruptedIOException retry) {
        throw retry;
      } catch (IOException | RuntimeException retry) {
        // the first error says which DataNode failed; the retry's, which others were tried and what they did
        IOException failed = new IOException(e.getMessage() + "; sent again to other DataNodes, which failed too: "
            + retry.getMessage(), e);
        failed.addSuppressed(retry);
        throw failed;
      }
    }
  }

  /** Writes the remaining bytes of each part, leaving the parts' positions as they were. */
  private static void writeAll(FSDataOutputStream out, ByteBuffer[] parts) throws IOException {
    byte[] scratch = null;
    for (ByteBuffer part : parts) {
      ByteBuffer p = part.duplicate();
      if (p.hasArray()) {
        out.write(p.array(), p.arrayOffset() + p.position(), p.remaining());
      } else {
        if (scratch == null) {
          scratch = new byte[COPY_CHUNK];
        }
        while (p.hasRemaining()) {
          int n = Math.min(scratch.length, p.remaining());
          p.get(scratch, 0, n);
          out.write(scratch, 0, n);
        }
      }
    }
  }
}
