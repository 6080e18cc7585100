package io.ferry.store.hdfs;

import java.io.IOException;
import java.io.InterruptedIOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumException;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.BlockMissingException;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hadoop's failures of reads and writes that go to DataNodes, told apart and said in one short line; Hadoop's own
 * message (long, several lines, naming blocks and DataNodes but neither the store nor the object) stays the cause.
 *
 * <p>Over {@code hdfs://}, a read that no replica could serve ends in Hadoop's {@code BlockMissingException} whether
 * the DataNodes holding the block are down or every replica they hold fails HDFS's own checksum (damaged disks: the
 * client tries each replica, sees the checksum fail, and gives up as it does for an unreachable DataNode). {@link
 * #classifyRead} tells the two apart by reading the range once more without HDFS's checksums: if the bytes come, the
 * replicas are there and damaged; if not, no DataNode holding them answered. Those bytes are never returned to a
 * reader.
 *
 * <p>Over {@code webhdfs://}, a DataNode serves a read with an HDFS client of its own and sends its headers before
 * the bytes; when no replica passes HDFS's checksum it ends its answer early, and the read ends before bytes that the
 * file's length covers. {@link #classifyRead} takes such an end for damage (the NameNode still gives the length).
 *
 * <p>Stateless and thread-safe.
 */
final class DataNodeErrors {
  private static final Logger LOG = LoggerFactory.getLogger(DataNodeErrors.class);

  private DataNodeErrors() {}

  /** A read or write that no DataNode served, after the NameNode had answered: never "cannot reach the NameNode". */
  static final class DataNodesUnavailableException extends IOException {
    DataNodesUnavailableException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** What a failed read met. */
  enum ReadFailure {
    /** The DataNodes answered, and every replica they served failed HDFS's checksum. */
    DAMAGED,
    /** No DataNode holding the bytes answered. */
    UNAVAILABLE,
    /** Anything else (the NameNode, permissions, a missing file...): the caller keeps Hadoop's error. */
    OTHER
  }

  /**
   * What a read of {@code length} bytes of {@code path} at {@code offset} that failed with {@code e} met. Costs
   * another read of the range (with one attempt per replica, no waits) only when Hadoop could not find a replica.
   */
  static ReadFailure classifyRead(FileSystem fs, Path path, long offset, int length, IOException e) {
    if (e instanceof java.io.EOFException && !(fs instanceof DistributedFileSystem)) {
      // over WebHDFS the DataNode reads the block with a client of its own and has sent its headers by then: when no
      // replica passes HDFS's checksum it ends its answer early, short of bytes that the file's length covers
      return fileCovers(fs, path, offset, length) ? ReadFailure.DAMAGED : ReadFailure.OTHER;
    }
    if (!(e instanceof BlockMissingException || e instanceof ChecksumException)) {
      // over WebHDFS a DataNode that does not answer is a failed connection, while the NameNode still answers
      return !(fs instanceof DistributedFileSystem) && isNetworkFailure(e) && nameNodeAnswers(fs, path)
          ? ReadFailure.UNAVAILABLE : ReadFailure.OTHER;
    }
    if (!(fs instanceof DistributedFileSystem)) {
      return ReadFailure.UNAVAILABLE;
    }
    Configuration conf = new Configuration(fs.getConf());
    // try each replica once, without Hadoop's waits between rounds (seconds each)
    conf.setInt("dfs.client.max.block.acquire.failures", 0);
    conf.setInt("dfs.client.retry.window.base", 1);
    try (FileSystem unverified = FileSystem.newInstance(fs.getUri(), conf)) {
      unverified.setVerifyChecksum(false);
      try (FSDataInputStream in = unverified.open(path)) {
        in.readFully(offset, new byte[Math.max(1, Math.min(length, 64 * 1024))]);
      }
      return ReadFailure.DAMAGED;
    } catch (IOException | RuntimeException again) {
      LOG.debug("{}: the read without checksums failed too: {}", path, again.toString());
      return ReadFailure.UNAVAILABLE;
    }
  }

  /** Whether the NameNode gives {@code path} a length that covers {@code [offset, offset + length)}. */
  private static boolean fileCovers(FileSystem fs, Path path, long offset, int length) {
    try {
      return fs.getFileStatus(path).getLen() >= offset + length;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  private static boolean nameNodeAnswers(FileSystem fs, Path path) {
    try {
      fs.getFileStatus(path);
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Whether {@code e} or a cause of it is a connection that failed or timed out. */
  static boolean isNetworkFailure(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.net.SocketException || t instanceof java.net.SocketTimeoutException
          || t instanceof java.net.NoRouteToHostException) {
        return true;
      }
    }
    return false;
  }

  /** What a read that no DataNode served says after the object: one line, for every kind of record and object. */
  static String unavailable(long offset, int length) {
    return "no DataNode that holds its bytes [" + offset + ", " + (offset + length) + ") answered (they are down or"
        + " cannot be reached from here)";
  }

  /** What a read of a whole small file (the marker, a record) that no DataNode served says after the file. */
  static String unavailable() {
    return "no DataNode that holds it answered (they are down or cannot be reached from here)";
  }

  /** What a read of damaged replicas says after the object. */
  static String damaged(Path path, long offset) {
    return "every replica of its HDFS block at byte " + offset + " fails HDFS's own checksum (damaged copies on the"
        + " DataNodes' disks; 'hdfs fsck " + path.toUri().getPath() + " -files -blocks -locations' lists them)";
  }

  /**
   * Why a write failed, in a few words, when Hadoop's error is that no DataNode could take it; null for any other
   * failure (the caller then keeps Hadoop's message). Hadoop says it as "File ... could only be written to 0 of the 1
   * minReplication nodes. There are 3 datanode(s) running and 3 node(s) are excluded in this operation.", followed by
   * the NameNode's stack trace, as "All datanodes [...] are bad. Aborting...", or, when the DataNodes stop while a
   * block is being written, as "Failed to replace a bad datanode on the existing pipeline due to no more good
   * datanodes being available to try. (Nodes: ...)" and a paragraph on the replacement policy, or, when they stop once
   * the last block is written, as "Unable to close file because the last block ... does not have enough number of
   * replicas." at the close.
   */
  static String writeUnavailable(IOException e) {
    if (e instanceof InterruptedIOException) {
      return null;
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = String.valueOf(t.getMessage());
      if (m.contains("could only be written to 0 of the")) {
        java.util.regex.Matcher counts = java.util.regex.Pattern.compile(
            "There are (\\d+) datanode\\(s\\) running and (\\d+) node\\(s\\) are excluded").matcher(m);
        String detail = counts.find() ? " (the NameNode counts " + counts.group(1) + " running, " + counts.group(2)
            + " of them failed this write)" : "";
        return "no DataNode available to write to" + detail;
      }
      if (m.startsWith("All datanodes") && m.contains("are bad")) {
        return "no DataNode available to write to (every DataNode of the write pipeline failed)";
      }
      if (m.startsWith("Failed to replace a bad datanode") && m.contains("no more good datanodes")) {
        return "no DataNode available to write to (none left to replace the failed ones of the write pipeline)";
      }
      if (m.startsWith("Unable to close file because the last block") && m.contains("does not have enough")) {
        return "no DataNode available to write to (when the file was closed, the NameNode counted too few DataNodes"
            + " holding its last block: they are down, or slow to report it)";
      }
    }
    return null;
  }
}
