package io.ferry.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * The run the {@code ferry} launcher records the loaded classes of, once per build, to make the class-data-sharing
 * archive every later start maps instead of parsing and verifying those classes again. It runs the common commands
 * in this one process on a tiny model in a scratch directory: init, push (twice), ls, log, show, diff, tag, pull,
 * cat, verify, stats and help, then a pull and cache stats through a Redis cache that cannot be reached, and with the
 * argument {@code s3} (for the archive of commands on S3 stores) a pull from an S3 endpoint that cannot be reached.
 * Output is discarded; the exit code is 0 when every command but those last ones returned 0.
 *
 * <p>Usage: {@code CdsTraining <empty scratch directory> [s3]}.
 */
public final class CdsTraining {
  private CdsTraining() {}

  public static void main(String[] args) throws IOException {
    if (args.length < 1 || args.length > 2 || args.length == 2 && !args[1].equals("s3")) {
      System.err.println("usage: CdsTraining <empty scratch directory> [s3]");
      System.exit(FerryCli.USAGE);
    }
    Path dir = Path.of(args[0]);
    Path model = Files.createDirectories(dir.resolve("model"));
    String store = dir.resolve("store").toString();
    writeModel(model, 1);
    PrintStream out = System.out;
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream(), false, StandardCharsets.UTF_8);
    System.setOut(quiet);
    int failures = 0;
    try {
      failures += run("init", "--store", store);
      failures += run("push", "--store", store, model.toString(), "tiny", "-m", "first");
      writeModel(model, 2);
      failures += run("push", "--store", store, model.toString(), "tiny:prod", "-m", "second", "--json");
      failures += run("ls", "--store", store);
      failures += run("log", "--store", store, "tiny");
      failures += run("show", "--store", store, "tiny:prod");
      failures += run("tag", "--store", store, "tiny", "candidate");
      failures += run("diff", "--store", store, "tiny:prod", "tiny:candidate");
      failures += run("pull", "--store", store, "tiny:prod", dir.resolve("out").toString(), "--verify");
      failures += run("cat", "--store", store, "tiny:prod//config.json");
      failures += run("verify", "--store", store);
      failures += run("stats", "--store", store);
      failures += run("--help");
      failures += run("push", "--help");
      // the Redis client's classes (Lettuce, Netty, Reactor: some 2,000, half a cache command's start-up): a pull and
      // cache stats against a port where nothing listens, which fail at once (not counted as failures)
      String cache = "redis://127.0.0.1:" + closedPort();
      run("pull", "--store", store, "tiny:prod", dir.resolve("out2").toString(), "--cache", cache);
      run("cache", "stats", "--cache", cache);
      if (args.length == 2) {
        trainS3(dir);
      }
    } finally {
      System.setOut(out);
    }
    System.exit(failures == 0 ? 0 : 1);
  }

  /**
   * The AWS SDK's classes (some 3,000, a quarter to a third of an s3:// command's start-up) for the archive of S3
   * commands: a pull from an S3 endpoint where nothing listens, one attempt, with the region and made-up credentials
   * given so that the SDK asks no instance-metadata service. It fails at once (not counted as a failure).
   */
  private static void trainS3(Path dir) throws IOException {
    System.setProperty("aws.accessKeyId", "cds-training");
    System.setProperty("aws.secretAccessKey", "cds-training");
    run("pull", "--store", "s3://cds-training/models", "--store-option", "s3.endpoint=http://127.0.0.1:"
        + closedPort(), "--store-option", "s3.region=us-east-1", "--store-option", "s3.max-attempts=1", "tiny",
        dir.resolve("out3").toString());
  }

  /** A loopback port nothing listens on (just released by the kernel). */
  private static int closedPort() throws IOException {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static int run(String... args) {
    var cmd = FerryCli.commandLineFor(args);
    PrintWriter sink = new PrintWriter(OutputStream.nullOutputStream(), false, StandardCharsets.UTF_8);
    cmd.setOut(sink);
    cmd.setErr(sink);
    return cmd.execute(args) == 0 ? 0 : 1;
  }

  /** A safetensors file of two bf16 tensors and a config; {@code generation} changes one tensor. */
  private static void writeModel(Path dir, int generation) throws IOException {
    int rows = 64;
    int cols = 64;
    int bytes = rows * cols * 2;
    String header = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[" + rows + "," + cols + "],\"data_offsets\":[0," + bytes
        + "]},\"b\":{\"dtype\":\"BF16\",\"shape\":[" + rows + "," + cols + "],\"data_offsets\":[" + bytes + ","
        + 2 * bytes + "]}}";
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    int padded = (h.length + 7) / 8 * 8;
    ByteBuffer file = ByteBuffer.allocate(8 + padded + 2 * bytes).order(ByteOrder.LITTLE_ENDIAN);
    file.putLong(padded).put(h);
    for (int i = h.length; i < padded; i++) {
      file.put((byte) ' ');
    }
    Random random = new Random(42);
    for (int t = 0; t < 2; t++) {
      Random values = t == 1 ? new Random(generation) : random;
      for (int i = 0; i < rows * cols; i++) {
        float f = (float) (values.nextGaussian() * 0.02);
        file.putShort((short) (Float.floatToRawIntBits(f) >>> 16));
      }
    }
    Files.write(dir.resolve("model.safetensors"), file.array());
    Files.writeString(dir.resolve("config.json"), "{\"generation\": " + generation + "}\n");
  }
}
