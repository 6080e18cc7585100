package io.ferry.bench;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.transfer.s3.S3TransferManager;
import software.amazon.awssdk.transfer.s3.model.CompletedDirectoryDownload;
import software.amazon.awssdk.transfer.s3.model.CompletedDirectoryUpload;

/**
 * The baselines of {@link BackendBenchmarks}, each run in a child JVM like Ferry's CLI: what a user of the engine's
 * own client would write to move the same files. Credentials and region of S3 come from the SDK's default chains
 * (the environment the benchmark sets).
 *
 * <pre>
 *   hdfs-get-seq   HDFS_DIR LOCAL_DIR           one sequential stream per file (FileSystem.open + read)
 *   hdfs-get-pread THREADS HDFS_DIR LOCAL_DIR   positional reads of 8 MiB ranges by THREADS threads
 *   hdfs-put       LOCAL_DIR HDFS_DIR           FileSystem.copyFromLocalFile (what `hdfs dfs -put` does)
 *   s3-download    ENDPOINT BUCKET PREFIX LOCAL_DIR   S3TransferManager.downloadDirectory, CRT client
 *   s3-upload      ENDPOINT BUCKET PREFIX LOCAL_DIR   S3TransferManager.uploadDirectory, CRT client
 * </pre>
 */
public final class EngineClient {
  private static final int BUFFER = 8 << 20;

  private EngineClient() {}

  public static void main(String[] a) throws Exception {
    switch (a[0]) {
      case "hdfs-get-seq" -> hdfsGetSequential(URI.create(a[1]), Path.of(a[2]));
      case "hdfs-get-pread" -> hdfsGetPositional(Integer.parseInt(a[1]), URI.create(a[2]), Path.of(a[3]));
      case "hdfs-put" -> hdfsPut(Path.of(a[1]), URI.create(a[2]));
      case "s3-download" -> s3Download(URI.create(a[1]), a[2], a[3], Path.of(a[4]));
      case "s3-upload" -> s3Upload(URI.create(a[1]), a[2], a[3], Path.of(a[4]));
      default -> throw new IllegalArgumentException("unknown mode " + a[0]);
    }
  }

  private static FileSystem fs(URI uri) throws IOException {
    return FileSystem.newInstance(uri, new Configuration());
  }

  static void hdfsGetSequential(URI dir, Path local) throws IOException {
    Files.createDirectories(local);
    try (FileSystem fs = fs(dir)) {
      byte[] buf = new byte[BUFFER];
      for (FileStatus st : fs.listStatus(new org.apache.hadoop.fs.Path(dir))) {
        Path out = local.resolve(st.getPath().getName());
        try (FSDataInputStream in = fs.open(st.getPath(), BUFFER);
            FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
          int n;
          while ((n = in.read(buf)) > 0) {
            ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
            while (b.hasRemaining()) {
              ch.write(b);
            }
          }
        }
      }
    }
  }

  static void hdfsGetPositional(int threads, URI dir, Path local) throws IOException {
    Files.createDirectories(local);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    ThreadLocal<byte[]> buffers = ThreadLocal.withInitial(() -> new byte[BUFFER]);
    FileSystem fs = fs(dir);
    List<AutoCloseable> open = new ArrayList<>();
    try {
      List<Future<?>> tasks = new ArrayList<>();
      for (FileStatus st : fs.listStatus(new org.apache.hadoop.fs.Path(dir))) {
        FSDataInputStream in = fs.open(st.getPath(), BUFFER);
        FileChannel ch = FileChannel.open(local.resolve(st.getPath().getName()), StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE);
        open.add(in);
        open.add(ch);
        long len = st.getLen();
        for (long pos = 0; pos < len; pos += BUFFER) {
          long at = pos;
          int n = (int) Math.min(BUFFER, len - pos);
          tasks.add(pool.submit(() -> {
            byte[] buf = buffers.get();
            in.readFully(at, buf, 0, n); // positional read: thread-safe, no seek
            ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
            long p = at;
            while (b.hasRemaining()) {
              p += ch.write(b, p);
            }
            return null;
          }));
        }
      }
      for (Future<?> t : tasks) {
        await(t);
      }
    } finally {
      pool.shutdownNow();
      for (AutoCloseable c : open) {
        try {
          c.close();
        } catch (Exception e) {
          throw new IOException(e);
        }
      }
      fs.close(); // after its streams
    }
  }

  static void hdfsPut(Path local, URI dir) throws IOException {
    try (FileSystem fs = fs(dir)) {
      fs.copyFromLocalFile(false, true, new org.apache.hadoop.fs.Path(local.toUri()),
          new org.apache.hadoop.fs.Path(dir));
    }
  }

  /**
   * The transfer manager over the CRT-based client ({@code -Dengine.s3client=crt}, the SDK's recommendation) or the
   * Java-based multipart async client ({@code java}).
   */
  private static S3TransferManager transferManager(URI endpoint, S3AsyncClient[] client) {
    if ("crt".equals(System.getProperty("engine.s3client", "crt"))) {
      client[0] = S3AsyncClient.crtBuilder().endpointOverride(endpoint).forcePathStyle(true)
          .region(Region.US_EAST_1).checksumValidationEnabled(false).build();
    } else {
      client[0] = S3AsyncClient.builder().endpointOverride(endpoint).forcePathStyle(true).region(Region.US_EAST_1)
          .multipartEnabled(true)
          // S3Proxy's filesystem store answers multipart uploads with 501: one PUT per file
          .multipartConfiguration(m -> m.thresholdInBytes(Long.MAX_VALUE / 2))
          .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
          .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED).build();
    }
    return S3TransferManager.builder().s3Client(client[0]).build();
  }

  static void s3Download(URI endpoint, String bucket, String prefix, Path local) throws IOException {
    S3AsyncClient[] c = new S3AsyncClient[1];
    try (S3TransferManager tm = transferManager(endpoint, c)) {
      CompletedDirectoryDownload r = tm.downloadDirectory(d -> d.bucket(bucket).listObjectsV2RequestTransformer(
          l -> l.prefix(prefix)).destination(local)).completionFuture().join();
      if (!r.failedTransfers().isEmpty()) {
        throw new IOException("failed downloads: " + r.failedTransfers());
      }
    } finally {
      c[0].close();
    }
  }

  static void s3Upload(URI endpoint, String bucket, String prefix, Path local) throws IOException {
    S3AsyncClient[] c = new S3AsyncClient[1];
    try (S3TransferManager tm = transferManager(endpoint, c)) {
      CompletedDirectoryUpload r = tm.uploadDirectory(u -> u.bucket(bucket).s3Prefix(prefix).source(local))
          .completionFuture().join();
      if (!r.failedTransfers().isEmpty()) {
        throw new IOException("failed uploads: " + r.failedTransfers());
      }
    } finally {
      c[0].close();
    }
  }

  private static void await(Future<?> f) throws IOException {
    try {
      f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted");
    } catch (ExecutionException e) {
      throw new IOException(e.getCause());
    }
  }
}
