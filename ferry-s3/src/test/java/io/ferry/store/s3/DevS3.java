package io.ferry.store.s3;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * {@code dev/s3.sh}: a local S3 endpoint for trying {@code s3://} stores on one machine. Starts S3Proxy with a
 * filesystem blob store, creates the bucket {@value LocalS3#BUCKET}, prints the store URI and the environment to use,
 * and serves until interrupted. Test code: it is not among the CLI's runtime dependencies.
 *
 * <p>Arguments: {@code [data directory] [port]}; defaults {@code $TMPDIR/ferry-s3} and 9000.
 */
public final class DevS3 {
  private DevS3() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args.length > 0 ? args[0] : System.getProperty("java.io.tmpdir") + "/ferry-s3");
    int port = args.length > 1 ? Integer.parseInt(args[1]) : 9000;
    Files.createDirectories(dir);
    LocalS3 s3 = LocalS3.inDirectory(dir, port);
    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      s3.close();
      stop.countDown();
    }));
    System.out.println("S3 endpoint up at " + s3.endpoint() + " (S3Proxy; data in " + dir.toAbsolutePath() + ")");
    System.out.println("In another shell:");
    System.out.println();
    System.out.println("  export FERRY_S3_ENDPOINT=" + s3.endpoint());
    System.out.println("  export AWS_ACCESS_KEY_ID=" + LocalS3.ACCESS_KEY + " AWS_SECRET_ACCESS_KEY=" + LocalS3.SECRET_KEY
        + " AWS_REGION=" + LocalS3.REGION);
    System.out.println("  export FERRY_STORE=s3://" + LocalS3.BUCKET + "/models");
    System.out.println("  ./ferry init");
    System.out.println();
    System.out.println("Store URI: s3://" + LocalS3.BUCKET + "/models (any prefix in bucket '" + LocalS3.BUCKET
        + "' works). Ctrl-C stops the endpoint; the data stays in " + dir.toAbsolutePath() + ".");
    System.out.flush();
    stop.await();
  }
}
