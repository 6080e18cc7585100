package io.ferry.bench;

import io.ferry.Ferry;
import io.ferry.codec.CodecPolicy;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.nio2blob.FilesystemNio2BlobStore;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Ferry's HDFS and S3 stores against the engines' own clients moving the same bytes: pull and push, interleaved, best
 * of N, each side in a child JVM (Ferry through the {@code ./ferry} launcher, baselines through {@link EngineClient})
 * whose peak RSS (VmHWM) and anonymous RSS are sampled from {@code /proc}. The engines run in this JVM: a
 * MiniDFSCluster with 3 DataNodes and replication 3, and S3Proxy over a directory. Writes its figures into
 * BENCHMARKS.md between {@code <!-- backends:start -->} and {@code <!-- backends:end -->}, leaving the rest alone.
 */
public final class BackendBenchmarks {
  private static final long GIB = 1L << 30;
  private static final String START = "<!-- backends:start -->";
  private static final String END = "<!-- backends:end -->";
  private static final String BUCKET = "bench";
  private static final String ACCESS = "ferry-bench-access";
  private static final String SECRET = "ferry-bench-secret-key";

  /** A child run: wall time, peak RSS and peak anonymous RSS in KiB, user + system CPU seconds (last sample). */
  record Run(double wallS, long hwmKb, long anonKb, double cpuS) {}

  private final Path root;
  private final Path work;
  private final long size;
  private final int runs;
  private final String ferry;
  private final String java;
  private final String cp;
  private final Map<String, List<Figure>> figures = new LinkedHashMap<>();
  private final Map<String, List<String>> notes = new LinkedHashMap<>();
  private final Map<String, Long> peakHwm = new LinkedHashMap<>();
  private final Map<String, Long> peakAnon = new LinkedHashMap<>();
  private final Map<String, Double> minCpu = new LinkedHashMap<>();
  private final String commandLine;
  private MiniDFSCluster dfs;
  private S3Proxy s3proxy;
  private URI s3Endpoint;
  private Path blobs;

  private BackendBenchmarks(Path root, Path work, long size, int runs, String commandLine) {
    this.root = root;
    this.work = work;
    this.size = size;
    this.runs = runs;
    this.commandLine = commandLine;
    this.ferry = root.resolve("ferry").toString();
    this.java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    this.cp = root.resolve("ferry-bench/target/classes") + File.pathSeparator + root.resolve("ferry-bench/target/lib")
        + File.separator + "*";
  }

  public static void main(String[] args) throws Exception {
    Path root = Path.of("").toAbsolutePath();
    long size = 3 * GIB / 2; // ModelGenerator writes 1.19 GiB (1.27 GB) for this target
    int runs = 3;
    Path out = null;
    String only = "hdfs,s3,memory";
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        // the generator's target: the files come out at 0.8-0.9 of it
        case "--size" -> size = Benchmarks.parseSize(args[++i]);
        case "--runs" -> runs = Integer.parseInt(args[++i]);
        case "--repo" -> root = Path.of(args[++i]).toAbsolutePath().normalize();
        case "--out" -> out = Path.of(args[++i]).toAbsolutePath();
        case "--only" -> only = args[++i];
        default -> {
          System.err.println("usage: BackendBenchmarks [--size 1g] [--runs 3] [--only hdfs,s3,memory] [--out FILE]");
          System.exit(2);
        }
      }
    }
    List<String> shown = new ArrayList<>(List.of(args));
    int at = shown.indexOf("--repo");
    if (at >= 0) {
      shown.subList(at, at + 2).clear();
    }
    BackendBenchmarks b = new BackendBenchmarks(root, root.resolve("bench-work/backends"), size, Math.max(1, runs),
        String.join(" ", shown));
    b.run(List.of(only.split(",")), out == null ? root.resolve("BENCHMARKS.md") : out);
  }

  private static void say(String s) {
    System.err.println("[backends] " + s);
  }

  // ------------------------------------------------------------------ orchestration

  private void run(List<String> only, Path out) throws Exception {
    long t0 = System.nanoTime();
    String loadBefore = Proc.capture("cat", "/proc/loadavg");
    Files.createDirectories(work);
    Path model = ensureModel(work.resolve("model-" + (size >> 20) + "m"));
    long bytes = dirBytes(model);
    try {
      startEngines();
      URI hdfs = URI.create("hdfs://localhost:" + dfs.getNameNodePort());
      // the same bytes twice in each engine: as Ferry's store (codec none) and as plain files put by the engine
      String hdfsStore = hdfs + "/ferry/pull";
      String s3Store = "s3://" + BUCKET + "/ferry-pull";
      say("pushing the model into " + hdfsStore + " and " + s3Store);
      pushInProcess(model, hdfsStore);
      pushInProcess(model, s3Store);
      child("prep", List.of(java, "-cp", cp, EngineClient.class.getName(), "hdfs-put", model.toString(),
          hdfs + "/plain/model"));
      child("prep", List.of(java, "-Dengine.s3client=java", "-cp", cp, EngineClient.class.getName(), "s3-upload",
          s3Endpoint.toString(),
          BUCKET, "plain-model", model.toString()));
      if (only.contains("hdfs")) {
        hdfsPull(hdfs, hdfsStore, bytes);
        hdfsPush(hdfs, model, bytes);
      }
      if (only.contains("s3")) {
        s3Pull(s3Store, bytes);
        s3Push(model, bytes);
      }
      if (only.contains("memory")) {
        memory(hdfsStore, s3Store, bytes);
      }
    } finally {
      stopEngines();
    }
    double total = (System.nanoTime() - t0) / 1e9;
    writeSection(out, report(bytes, loadBefore, Proc.capture("cat", "/proc/loadavg"), total));
    say("wrote " + out + " in " + Math.round(total) + " s");
  }

  private void startEngines() throws Exception {
    Path hdfsDir = work.resolve("minihdfs");
    clean(hdfsDir);
    Configuration conf = new Configuration();
    conf.setInt("dfs.replication", 3);
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    long t = System.nanoTime();
    dfs = new MiniDFSCluster.Builder(conf, hdfsDir.toFile()).numDataNodes(3).build();
    dfs.waitActive();
    say(String.format(Locale.ROOT, "MiniDFSCluster (3 DataNodes, replication 3) up in %.1f s", secsSince(t)));
    blobs = work.resolve("s3blobs");
    clean(blobs);
    Files.createDirectories(blobs);
    s3proxy = S3Proxy.builder().blobStore(new FilesystemNio2BlobStore(blobs.toString()))
        .endpoint(URI.create("http://127.0.0.1:0"))
        .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS, SECRET).build();
    s3proxy.start();
    while (!"STARTED".equals(s3proxy.getState())) {
      Thread.sleep(5);
    }
    s3Endpoint = URI.create("http://127.0.0.1:" + s3proxy.getPort());
    try (S3Client admin = S3Client.builder().endpointOverride(s3Endpoint).forcePathStyle(true)
        .region(Region.US_EAST_1)
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS, SECRET))).build()) {
      admin.createBucket(b -> b.bucket(BUCKET));
    }
    // this JVM's Ferry (the in-process preparation pushes) finds them through the SDK's default chain
    System.setProperty("aws.accessKeyId", ACCESS);
    System.setProperty("aws.secretAccessKey", SECRET);
    System.setProperty("aws.region", "us-east-1");
    say("S3Proxy at " + s3Endpoint + " over " + blobs);
  }

  private void stopEngines() throws Exception {
    if (s3proxy != null) {
      s3proxy.stop();
    }
    if (dfs != null) {
      dfs.shutdown(true);
    }
  }

  private Map<String, String> env() {
    Map<String, String> e = new HashMap<>();
    e.put("AWS_ACCESS_KEY_ID", ACCESS);
    e.put("AWS_SECRET_ACCESS_KEY", SECRET);
    e.put("AWS_REGION", "us-east-1");
    e.put("FERRY_S3_ENDPOINT", s3Endpoint.toString());
    return e;
  }

  private void pushInProcess(Path model, String store) throws IOException {
    Map<String, String> settings = new HashMap<>();
    settings.put("s3.endpoint", s3Endpoint.toString());
    try (Repository repo = Ferry.open(store, StoreOptions.createIfMissing().withSettings(settings),
        RepositoryOptions.defaults())) {
      repo.push(model, "bench", PushOptions.builder().message("bench").codec(CodecPolicy.NONE).build());
    }
  }

  // ------------------------------------------------------------------ HDFS

  private void hdfsPull(URI hdfs, String store, long bytes) throws Exception {
    say("HDFS pull: ferry pull vs FileSystem API reads of the same bytes");
    Path dst = work.resolve("dst");
    String plain = hdfs + "/plain/model";
    Map<String, Double> best = new LinkedHashMap<>();
    List<String> base = List.of(java, "-XX:+UseSerialGC", "-cp", cp, EngineClient.class.getName());
    for (int i = 0; i < runs; i++) {
      Map<String, List<String>> cmds = new LinkedHashMap<>();
      cmds.put("ferry", List.of(ferry, "pull", "--store", store, "bench", dst.toString()));
      cmds.put("seq", concat(base, "hdfs-get-seq", plain, dst.toString()));
      for (int t : new int[] {4, 8, 16}) {
        cmds.put("pread" + t, concat(base, "hdfs-get-pread", Integer.toString(t), plain, dst.toString()));
      }
      StringBuilder line = new StringBuilder("  round " + (i + 1) + ":");
      for (Map.Entry<String, List<String>> c : cmds.entrySet()) {
        clean(dst);
        sync();
        Run r = child("hdfs-pull-" + c.getKey(), c.getValue());
        check(dst, bytes);
        best.merge(c.getKey(), r.wallS(), Math::min);
        line.append(String.format(Locale.ROOT, " %s %.2f s", c.getKey(), r.wallS()));
      }
      say(line.toString());
    }
    clean(dst);
    String bestBase = best.entrySet().stream().filter(e -> !e.getKey().equals("ferry"))
        .min(Map.Entry.comparingByValue()).orElseThrow().getKey();
    String what = "HDFS: pull of a " + Benchmarks.human(bytes) + " model (codec none) from a MiniDFSCluster, 3 "
        + "DataNodes, replication 3";
    String others = String.format(Locale.ROOT, "all baselines: one stream per file %.2f s, positional reads "
        + "×4 %.2f s, ×8 %.2f s, ×16 %.2f s", best.get("seq"), best.get("pread4"), best.get("pread8"),
        best.get("pread16"));
    add(what, new Figure("best FileSystem API read (" + label(bestBase) + ")", best.get(bestBase),
        "`ferry pull` (launcher, child JVM)", best.get("ferry"), true, 0.9,
        others + "; peak RSS Ferry " + mb(peakHwm.get("hdfs-pull-ferry")) + ", baseline "
            + mb(peakHwm.get("hdfs-pull-" + bestBase))));
    note(what, "NameNode, three DataNodes (in the benchmark's JVM) and the client share the machine's "
        + Runtime.getRuntime().availableProcessors() + " cores and one disk: parallel readers cannot show the gain "
        + "they have on a cluster where each DataNode has its own disks and NIC (docs/hdfs.md, section 'A real "
        + "cluster: the arithmetic for 400 GB'). "
        + "Neither side fsyncs (`ferry pull` without `--fsync`). CPU of the client (least over runs): Ferry "
        + cpu("hdfs-pull-ferry") + ", one stream " + cpu("hdfs-pull-seq") + ", positional ×8 "
        + cpu("hdfs-pull-pread8") + ".");
  }

  private static String label(String key) {
    return key.equals("seq") ? "one sequential stream per file" : "positional reads, " + key.substring(5)
        + " threads";
  }

  private void hdfsPush(URI hdfs, Path model, long bytes) throws Exception {
    say("HDFS push: ferry push (hsync, hflush) vs FileSystem.copyFromLocalFile");
    double hsyncBest = Double.MAX_VALUE;
    double hflushBest = Double.MAX_VALUE;
    double putBest = Double.MAX_VALUE;
    try (FileSystem fs = FileSystem.newInstance(hdfs, new Configuration())) {
      for (int i = 0; i < runs; i++) {
        double[] ferryS = new double[2];
        for (int mode = 0; mode < 2; mode++) {
          String store = hdfs + "/ferry/push-" + i + "-" + mode;
          child("prep", List.of(ferry, "init", "--store", store));
          sync();
          List<String> cmd = new ArrayList<>(List.of(ferry, "push", "--store", store, "--codec", "none"));
          if (mode == 1) {
            cmd.addAll(List.of("--store-option", "ferry.hdfs.sync=hflush"));
          }
          cmd.addAll(List.of(model.toString(), "bench"));
          ferryS[mode] = child(mode == 0 ? "hdfs-push-ferry" : "hdfs-push-ferry-hflush", cmd).wallS();
          fs.delete(new org.apache.hadoop.fs.Path(URI.create(store)), true);
        }
        sync();
        Run p = child("hdfs-push-put", List.of(java, "-XX:+UseSerialGC", "-cp", cp, EngineClient.class.getName(),
            "hdfs-put", model.toString(), hdfs + "/plain/push-" + i));
        fs.delete(new org.apache.hadoop.fs.Path(hdfs + "/plain/push-" + i), true);
        hsyncBest = Math.min(hsyncBest, ferryS[0]);
        hflushBest = Math.min(hflushBest, ferryS[1]);
        putBest = Math.min(putBest, p.wallS());
        say(String.format(Locale.ROOT, "  round %d: ferry push (hsync) %.2f s, (hflush) %.2f s, copyFromLocalFile "
            + "%.2f s", i + 1, ferryS[0], ferryS[1], p.wallS()));
      }
    }
    String what = "HDFS: push of a " + Benchmarks.human(bytes) + " model into an empty store (replication 3)";
    String put = "`FileSystem.copyFromLocalFile` (= `hdfs dfs -put`)";
    add(what, new Figure(put, putBest,
        "`ferry push --codec none` (launcher, child JVM; default `ferry.hdfs.sync=hsync`)", hsyncBest, false, 1.2,
        "every object is on the DataNodes' disks when the push returns (SYNC_BLOCK); "
            + "`-put` leaves it in their page cache. Peak RSS Ferry " + mb(peakHwm.get("hdfs-push-ferry"))
            + ", baseline " + mb(peakHwm.get("hdfs-push-put"))));
    add(what, new Figure(put, putBest, "same with `--store-option ferry.hdfs.sync=hflush` (the durability of `-put`)",
        hflushBest, false, 1.2, "peak RSS " + mb(peakHwm.get("hdfs-push-ferry-hflush"))));
    note(what, "CPU of the client (least over runs): Ferry " + cpu("hdfs-push-ferry") + " (hflush "
        + cpu("hdfs-push-ferry-hflush") + "), `copyFromLocalFile` " + cpu("hdfs-push-put") + ". "
        + "Ferry reads every byte three times before HDFS sees it: SHA-256 of each chunk (its id), SHA-256 of "
        + "each file (recorded in the snapshot) and the CRC32C of the frame; on 2 cores shared with the NameNode and "
        + "3 DataNodes (which checksum every packet too) that CPU is not hidden behind the writes. Ferry's peak RSS "
        + "counts the file pages of the memory-mapped source files; its anonymous memory stays near the baseline's.");
  }

  // ------------------------------------------------------------------ S3

  private void s3Pull(String store, long bytes) throws Exception {
    say("S3 pull: ferry pull vs S3TransferManager.downloadDirectory (CRT)");
    Path dst = work.resolve("dst");
    double ferryBest = Double.MAX_VALUE;
    double tmBest = Double.MAX_VALUE;
    for (int i = 0; i < runs; i++) {
      clean(dst);
      sync();
      Run f = child("s3-pull-ferry", List.of(ferry, "pull", "--store", store, "bench", dst.toString()));
      check(dst, bytes);
      clean(dst);
      sync();
      Run t = child("s3-pull-tm", List.of(java, "-XX:+UseSerialGC", "-cp", cp, EngineClient.class.getName(),
          "s3-download", s3Endpoint.toString(), BUCKET, "plain-model", dst.toString()));
      check(dst, bytes);
      ferryBest = Math.min(ferryBest, f.wallS());
      tmBest = Math.min(tmBest, t.wallS());
      say(String.format(Locale.ROOT, "  round %d: ferry pull %.2f s, transfer manager %.2f s", i + 1, f.wallS(),
          t.wallS()));
    }
    clean(dst);
    String what = "S3: pull of a " + Benchmarks.human(bytes) + " model (codec none) from S3Proxy (filesystem blob "
        + "store) on loopback";
    add(what, new Figure("`S3TransferManager.downloadDirectory` (CRT client)", tmBest,
        "`ferry pull` (launcher, child JVM)", ferryBest, true, 1.0,
        "peak RSS Ferry " + mb(peakHwm.get("s3-pull-ferry")) + ", transfer manager " + mb(peakHwm.get("s3-pull-tm"))));
    note(what, "S3Proxy serves both from the same JVM and disk, and shares the cores with the client: the figure "
        + "compares the clients' cost per byte and per request more than network throughput. CPU of the client "
        + "(least over runs): Ferry " + cpu("s3-pull-ferry") + ", transfer manager " + cpu("s3-pull-tm") + ".");
  }

  private void s3Push(Path model, long bytes) throws Exception {
    say("S3 push: ferry push vs S3TransferManager.uploadDirectory (CRT)");
    double ferryBest = Double.MAX_VALUE;
    double tmBest = Double.MAX_VALUE;
    for (int i = 0; i < runs; i++) {
      String store = "s3://" + BUCKET + "/ferry-push-" + i;
      child("prep", List.of(ferry, "init", "--store", store));
      sync();
      Run f = child("s3-push-ferry", List.of(ferry, "push", "--store", store, "--codec", "none", model.toString(),
          "bench"));
      clean(blobs.resolve(BUCKET).resolve("ferry-push-" + i));
      sync();
      Run t = child("s3-push-tm", List.of(java, "-XX:+UseSerialGC", "-Dengine.s3client=java", "-cp", cp,
          EngineClient.class.getName(),
          "s3-upload", s3Endpoint.toString(), BUCKET, "plain-push-" + i, model.toString()));
      clean(blobs.resolve(BUCKET).resolve("plain-push-" + i));
      ferryBest = Math.min(ferryBest, f.wallS());
      tmBest = Math.min(tmBest, t.wallS());
      say(String.format(Locale.ROOT, "  round %d: ferry push %.2f s, transfer manager %.2f s", i + 1, f.wallS(),
          t.wallS()));
    }
    String what = "S3: push of a " + Benchmarks.human(bytes) + " model into an empty store on S3Proxy";
    add(what, new Figure("`S3TransferManager.uploadDirectory` (Java async client, one PUT per file)", tmBest,
        "`ferry push --codec none` (launcher, child JVM)", ferryBest, false, 1.2,
        "CRT's multipart upload fails against S3Proxy (\"Upload Id not found in create-multipart-upload "
            + "response\") and the Java client's gets 501 from S3Proxy's filesystem store, so uploads use the "
            + "Java-based client with one PUT per file; peak RSS Ferry " + mb(peakHwm.get("s3-push-ferry"))
            + ", transfer manager " + mb(peakHwm.get("s3-push-tm"))));
  }

  // ------------------------------------------------------------------ memory

  private void memory(String hdfsStore, String s3Store, long bytes) throws Exception {
    say("memory: pulls in a child JVM with -Xmx256m");
    Path dst = work.resolve("dst");
    String what = "memory: pull of a " + Benchmarks.human(bytes) + " model in a child JVM with `-Xmx256m`";
    for (String[] s : new String[][] {{"HDFS", hdfsStore}, {"S3", s3Store}}) {
      clean(dst);
      sync();
      Map<String, String> env = env();
      env.put("FERRY_JAVA_OPTS", "-XX:+UseSerialGC -Xshare:auto -Xmx256m");
      String key = "mem-" + s[0];
      Run r = child(key, List.of(ferry, "pull", "--store", s[1], "bench", dst.toString()), env);
      check(dst, bytes);
      add(what, new Figure("(none: a bound, not a ratio)", r.wallS(), "`ferry pull` from " + s[0] + ", `-Xmx256m`",
          r.wallS(), false, Double.NaN, "succeeded; peak RSS (VmHWM) " + mb(r.hwmKb()) + ", anonymous (RssAnon) "
              + mb(r.anonKb())));
    }
    clean(dst);
    note(what, "Target: both succeed with a 256 MiB heap — pass (a failure stops the benchmark).");
  }

  // ------------------------------------------------------------------ child processes

  private Run child(String key, List<String> cmd) throws IOException, InterruptedException {
    return child(key, cmd, env());
  }

  /** Runs {@code cmd}, sampling VmHWM and RssAnon of its process every 10 ms; fails if it exits non-zero. */
  private Run child(String key, List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().putAll(env);
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    Path err = work.resolve("child-stderr.txt");
    pb.redirectError(err.toFile());
    long t = System.nanoTime();
    Process p = pb.start();
    Path status = Path.of("/proc/" + p.pid() + "/status");
    Path stat = Path.of("/proc/" + p.pid() + "/stat");
    long hwm = 0;
    long anon = 0;
    long ticks = 0;
    while (p.isAlive()) {
      try {
        String st = Files.readString(stat);
        String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
        ticks = Math.max(ticks, Long.parseLong(f[11]) + Long.parseLong(f[12])); // utime + stime

        for (String line : Files.readAllLines(status)) {
          if (line.startsWith("VmHWM:")) {
            hwm = Math.max(hwm, kb(line));
          } else if (line.startsWith("RssAnon:")) {
            anon = Math.max(anon, kb(line));
          }
        }
      } catch (IOException gone) {
        // exited between isAlive and the read
      }
      Thread.sleep(10);
    }
    int exit = p.waitFor();
    double wall = secsSince(t);
    if (exit != 0) {
      String e = Files.readString(err);
      throw new IOException("failed (exit " + exit + "): " + String.join(" ", cmd) + "\n"
          + e.substring(Math.max(0, e.length() - 3000)));
    }
    peakHwm.merge(key, hwm, Math::max);
    peakAnon.merge(key, anon, Math::max);
    double cpu = ticks / 100.0; // USER_HZ
    minCpu.merge(key, cpu, Math::min);
    return new Run(wall, hwm, anon, cpu);
  }

  private String cpu(String key) {
    Double c = minCpu.get(key);
    return c == null ? "?" : String.format(Locale.ROOT, "%.1f s", c);
  }

  private static long kb(String statusLine) {
    return Long.parseLong(statusLine.trim().split("\\s+")[1]);
  }

  // ------------------------------------------------------------------ helpers

  private Path ensureModel(Path dir) throws IOException, InterruptedException {
    Path done = dir.resolveSibling(dir.getFileName() + ".complete"); // beside it: not part of the model's bytes
    if (Files.exists(done)) {
      say("reusing " + dir);
      return dir;
    }
    say("generating a " + Benchmarks.human(size) + " BF16 model in " + dir);
    clean(dir);
    ModelGenerator.writeHfModel(dir, ModelGenerator.transformer(size, DType.BF16, 42), Math.max(64L << 20, size / 2));
    Files.createFile(done);
    return dir;
  }

  private static void check(Path dst, long bytes) throws IOException {
    long got = dirBytes(dst);
    if (got != bytes) {
      throw new IOException(dst + " holds " + got + " bytes, expected " + bytes);
    }
  }

  private static void sync() throws IOException, InterruptedException {
    new ProcessBuilder("sync").start().waitFor();
  }

  private static void clean(Path dir) throws IOException, InterruptedException {
    if (Files.exists(dir)) {
      new ProcessBuilder("rm", "-rf", dir.toString()).start().waitFor();
    }
  }

  private static long dirBytes(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    }
  }

  private static List<String> concat(List<String> a, String... more) {
    List<String> out = new ArrayList<>(a);
    out.addAll(List.of(more));
    return out;
  }

  private static double secsSince(long t) {
    return (System.nanoTime() - t) / 1e9;
  }

  private static String mb(Long kb) {
    return kb == null || kb <= 0 ? "?" : (kb >> 10) + " MiB";
  }

  private void add(String section, Figure f) {
    figures.computeIfAbsent(section, k -> new ArrayList<>()).add(f);
    say("  " + section + ": " + f.ferry() + " / " + f.baseline() + " = " + Figure.fmt(f.ratio()) + " "
        + f.verdict());
  }

  private void note(String section, String text) {
    notes.computeIfAbsent(section, k -> new ArrayList<>()).add(text);
  }

  // ------------------------------------------------------------------ report

  private String report(long bytes, String loadBefore, String loadAfter, double totalS) {
    StringBuilder b = new StringBuilder();
    b.append("## Backends: HDFS and S3 against their own clients\n\n");
    b.append("Generated by `io.ferry.bench.BackendBenchmarks` (`bench/backends.sh ").append(commandLine)
        .append("`). Model ").append(Benchmarks.human(bytes)).append(", best of ").append(runs)
        .append(", Ferry and baselines interleaved, each in its own child JVM (peak RSS sampled from /proc). ")
        .append("Throughput ratios are baseline time / Ferry time (> 1: Ferry faster); push ratios are Ferry time / ")
        .append("baseline time. Load average before / after: `").append(loadBefore).append("` / `")
        .append(loadAfter).append("` on ").append(Runtime.getRuntime().availableProcessors())
        .append(" cores shared with other builds.\n\n");
    Figure.appendSections(b, "###", figures, notes);
    b.append("Peak RSS (VmHWM) / anonymous RSS of every child JVM, max over runs; CPU (user + system, sampled every "
        + "10 ms until exit), least over runs:\n\n");
    for (String k : peakHwm.keySet()) {
      if (!k.equals("prep")) {
        b.append("- ").append(k).append(": ").append(mb(peakHwm.get(k))).append(" / ").append(mb(peakAnon.get(k)))
            .append(String.format(Locale.ROOT, "; CPU %.2f s", minCpu.get(k))).append('\n');
      }
    }
    b.append("\nWhole run: ").append(Math.round(totalS)).append(" s.\n");
    return b.toString();
  }

  /** Replaces what is between the markers (appending them at the end if absent); the rest stays as it is. */
  static void writeSection(Path file, String section) throws IOException {
    String text = Files.exists(file) ? Files.readString(file) : "";
    int s = text.indexOf(START);
    int e = text.indexOf(END);
    String body = START + "\n" + section + END;
    if (s >= 0 && e > s) {
      text = text.substring(0, s) + body + text.substring(e + END.length());
    } else {
      text = text + (text.isEmpty() || text.endsWith("\n") ? "\n" : "\n\n") + body + "\n";
    }
    Files.writeString(file, text);
  }
}
