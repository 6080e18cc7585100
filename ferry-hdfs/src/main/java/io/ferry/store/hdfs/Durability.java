package io.ferry.store.hdfs;

import java.io.IOException;
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
  private Durability() {}

  /** Creates a new file, failing if it exists. */
  static FSDataOutputStream create(FileSystem fs, Path path, boolean sync) throws IOException {
    EnumSet<CreateFlag> flags = sync ? EnumSet.of(CreateFlag.CREATE, CreateFlag.SYNC_BLOCK)
        : EnumSet.of(CreateFlag.CREATE);
    return fs.create(path, FsPermission.getFileDefault().applyUMask(FsPermission.getUMask(fs.getConf())), flags,
        fs.getConf().getInt("io.file.buffer.size", 4096), fs.getDefaultReplication(path),
        fs.getDefaultBlockSize(path), null);
  }
}
