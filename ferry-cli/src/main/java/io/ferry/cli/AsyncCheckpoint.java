package io.ferry.cli;

import io.ferry.error.InvalidInputException;
import io.ferry.scan.LocalTrees;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;

/**
 * The local side of {@code ferry checkpoint push --async}: the staging directory {@code .ferry-staging} next to the
 * source, a run's lock file there (holding the pid, start time and run of the process pushing the run), staging by
 * hard links (or copies where a link cannot be made), and the detached process that pushes the staged copy. See
 * docs/checkpoints.md.
 */
final class AsyncCheckpoint {
  /** The staging directory's name, next to the checkpoint. */
  static final String AREA = ".ferry-staging";

  /**
   * What joins a run's name and its step in a staged directory's name: an older Ferry's {@code -step-} could not tell
   * {@code org/run}'s directories from {@code org_run}'s, and this one cannot be taken for it.
   */
  private static final String STEP = ".step-";

  private AsyncCheckpoint() {}

  /** The staging area of a source: a sibling of it, so that hard links stay on one file system. */
  static Path area(Path source) {
    Path abs = source.toAbsolutePath().normalize();
    Path parent = abs.getParent();
    if (parent == null) {
      throw new IllegalArgumentException("checkpoint source " + abs + " has no parent directory to stage next to");
    }
    return parent.resolve(AREA);
  }

  /**
   * The staging area of a source if one exists, which a push without --async waits on: none for a source without a
   * parent directory (the root), next to which nothing can have been staged, where {@link #area} refuses it.
   */
  static Optional<Path> existingArea(Path source) {
    if (source.toAbsolutePath().normalize().getParent() == null) {
      return Optional.empty();
    }
    Path area = area(source);
    return Files.isDirectory(area) ? Optional.of(area) : Optional.empty();
  }

  /**
   * A run's name in the area's file names: its {@code org/} prefix with '+' for '/', a character no model name holds,
   * so no two runs share a name ({@code org/run} is {@code org+run}, {@code org_run} stays {@code org_run}).
   */
  static String fileName(String run) {
    return run.replace('/', '+');
  }

  static Path lockOf(Path area, String run) {
    return area.resolve(fileName(run) + ".lock");
  }

  /**
   * Waits while another process pushes {@code run} from this area (its lock names a live Ferry push of the run). A
   * lock whose process is gone (a crash), or is no Ferry push of the run (a pid reused after a reboot, a planted lock),
   * is removed, with a warning naming what it left. Returns at once when there is no lock.
   */
  static void awaitRun(Path area, String run, Notices say) throws IOException {
    Path lock = lockOf(area, run);
    String seen = null;
    while (true) {
      String text;
      try {
        text = readLock(lock);
      } catch (NoSuchFileException e) {
        if (!stagedDirs(area, run).isEmpty()) {
          // a background push removes what it staged once it stored it: what is left is a step it did not store
          say.warning("a background push of " + run + " failed or was stopped, and did not store the step it staged; "
              + leftBehind(area, run));
        }
        return;
      }
      if (isOver(area, text, run)) {
        // its push stored the step and removed what it staged: over, though it may not have removed the lock (it
        // ended before its launcher recorded it there), and its pid may since name another process
        Files.deleteIfExists(lock);
        continue;
      }
      Optional<ProcessHandle> live = pid(text).flatMap(ProcessHandle::of).filter(ProcessHandle::isAlive);
      Optional<String> stranger = live.flatMap(h -> notAPushOf(h, text, run, lock));
      if (live.isPresent() && stranger.isEmpty()) {
        ProcessHandle holder = live.get();
        say.info("waiting for the background push of " + run + " (pid " + holder.pid() + ", lock " + lock + ")");
        try {
          holder.onExit().get();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException("interrupted while waiting for the background push of " + run);
        } catch (ExecutionException e) {
          throw new IOException("waiting for pid " + holder.pid() + ": " + e.getCause(), e.getCause());
        }
        seen = null;
        continue;
      }
      if (text.equals(seen)) {
        Files.deleteIfExists(lock);
        if (stranger.isPresent()) {
          say.warning(lock + " names pid " + live.get().pid() + ", which is no Ferry push of " + run + " ("
              + stranger.get() + "): the lock is stale, removed; " + leftBehind(area, run));
        } else if (text.split("\\s+").length == 3) {
          // the same dead holder twice, the command that staged: it was killed before its hand-over, and the push it
          // may have started stopped without pushing (awaitHandOver)
          say.warning("the checkpoint push --async of " + run + " that held " + lock + " (" + text + ") was stopped"
              + " before it handed the step to a background push, and nothing of it was pushed; "
              + leftBehind(area, run));
        } else {
          // the same dead holder twice: a crashed push
          say.warning("the background push of " + run + " that held " + lock + " (" + text
              + ") is gone without finishing; " + leftBehind(area, run));
        }
        return;
      }
      seen = text; // read once more: the launcher may just have handed the lock to its child
    }
  }

  /**
   * Why the live process {@code h} that a lock names is no Ferry push of {@code run}, or empty if it is one. A lock
   * records the pid, the process's start time and the run ({@link #record}): the process must have started then, so
   * a pid the system gave to another process since is told apart. A lock of an older Ferry (a bare pid) names a push
   * of the run only if its command line is one: a {@code checkpoint push} of the run, with {@code --async} (the
   * command staging) or with this lock as its {@code --run-lock} (the background push).
   */
  private static Optional<String> notAPushOf(ProcessHandle h, String text, String run, Path lock) {
    String[] f = text.split("\\s+");
    if (f.length >= 3) {
      if (!f[2].equals(run)) {
        return Optional.of("the lock is of run " + f[2]);
      }
      Optional<java.time.Instant> started = h.info().startInstant();
      if (started.isPresent() && !f[1].equals("-") && !Long.toString(started.get().toEpochMilli()).equals(f[1])) {
        return Optional.of("it started at " + started.get() + ", not when the lock says");
      }
      return Optional.empty();
    }
    List<String> args = h.info().arguments().map(List::of).orElse(List.of());
    int push = args.indexOf("push");
    int runLock = args.indexOf("--run-lock");
    boolean pusher = runLock >= 0 && runLock + 1 < args.size() && args.get(runLock + 1).equals(lock.toString());
    boolean ours = push > 0 && args.get(push - 1).equals("checkpoint") && args.contains(run)
        && (args.contains("--async") || pusher);
    return ours ? Optional.empty()
        : Optional.of("its command is " + h.info().commandLine().orElse(h.info().command().orElse("unknown")));
  }

  /**
   * Whether a lock records a background push that is over: it names the push's staged directory, which the push
   * removes only once it stored the step, and that directory is gone.
   */
  private static boolean isOver(Path area, String text, String run) {
    String[] f = text.split("\\s+");
    return f.length >= 4 && f[2].equals(run) && f[3].startsWith(fileName(run) + STEP) && f[3].indexOf('/') < 0
        && !Files.exists(area.resolve(f[3]), LinkOption.NOFOLLOW_LINKS);
  }

  /**
   * What a lock holds for the process {@code h} pushing {@code run}: its pid, start time (or '-' when the system does
   * not say) and the run, and for a background push the name of the directory it pushes.
   */
  static String record(ProcessHandle h, String run, Optional<Path> stagedDir) {
    return h.pid() + " " + h.info().startInstant().map(i -> Long.toString(i.toEpochMilli())).orElse("-") + " " + run
        + stagedDir.map(d -> " " + d.getFileName()).orElse("") + "\n";
  }

  /**
   * Names the staged directories of a run that are still in the area, with their logs: a crashed push leaves its
   * step's directory (a successful one removes it).
   */
  static String leftBehind(Path area, String run) throws IOException {
    List<Path> dirs = stagedDirs(area, run);
    if (dirs.isEmpty()) {
      return "it left no staged directory in " + area;
    }
    StringBuilder b = new StringBuilder("what it staged is left in ");
    boolean complete = true;
    for (int i = 0; i < dirs.size(); i++) {
      Path log = logOf(dirs.get(i));
      b.append(i == 0 ? "" : ", ").append(dirs.get(i));
      if (Files.exists(log, LinkOption.NOFOLLOW_LINKS)) {
        b.append(" (its log, which says how far it got: ").append(log);
        lastLine(log).ifPresent(line -> b.append(", ends with: ").append(line));
        b.append(')');
      } else {
        // the log is made when the background push starts, once staging is complete
        complete = false;
        b.append(" (no log: the command was stopped while it staged it, so files may be missing: delete it, do not"
            + " push it)");
      }
    }
    return b.append(complete ? "; push it again with 'ferry checkpoint push', or delete it"
        : "; push again with 'ferry checkpoint push' only a directory that has its log, delete the others").toString();
  }

  /**
   * The step directories of a run staged in the area ({@code <run>.step-<N>-<random>}, the run named by
   * {@link #fileName}), in name order. Those an older Ferry named {@code <run>-step-<N>-<random>}, with '_' for '/',
   * are the run's only when its name has neither: {@code org_run-step-…} may be {@code org/run}'s.
   */
  private static List<Path> stagedDirs(Path area, String run) throws IOException {
    String older = run.indexOf('/') < 0 && run.indexOf('_') < 0 ? "|" + java.util.regex.Pattern.quote(run + "-step-")
        + "\\d+-\\d+" : "";
    java.util.regex.Pattern name = java.util.regex.Pattern.compile(
        java.util.regex.Pattern.quote(fileName(run) + STEP) + "\\d+-\\d+" + older);
    try (Stream<Path> s = Files.list(area)) {
      return s.filter(p -> name.matcher(p.getFileName().toString()).matches()
          && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
    } catch (NoSuchFileException e) {
      return List.of();
    }
  }

  /** The log of a staged directory: beside it, its name and {@code .log}. */
  static Path logOf(Path stagedDir) {
    return stagedDir.resolveSibling(stagedDir.getFileName() + ".log");
  }

  /**
   * Removes the log of a staged directory whose push succeeded (the pusher writing it may still hold it open): only
   * a failed push's log is kept, for the next push to report. A log that cannot be removed is left, without error.
   */
  static void removeLog(Path stagedDir) {
    try {
      Files.deleteIfExists(logOf(stagedDir));
    } catch (IOException e) {
      // the step is stored: a log left behind (a file system that refuses to delete an open file) is harmless
    }
  }

  /** The longest tail of a log read for its last line. */
  private static final int MAX_LOG_TAIL = 1024;

  /** The last non-blank line of a log (of its last {@link #MAX_LOG_TAIL} bytes), if it is a regular file. */
  private static Optional<String> lastLine(Path log) throws IOException {
    if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
      return Optional.empty();
    }
    try (java.nio.channels.SeekableByteChannel ch = Files.newByteChannel(log, LinkOption.NOFOLLOW_LINKS)) {
      long size = ch.size();
      long from = Math.max(0, size - MAX_LOG_TAIL);
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) (size - from));
      ch.position(from);
      int n;
      do {
        n = ch.read(buf);
      } while (n > 0 && buf.hasRemaining());
      String[] lines = new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8).strip().split("\\R");
      String last = lines[lines.length - 1].strip();
      return last.isEmpty() ? Optional.empty() : Optional.of(last);
    }
  }

  /** The longest lock file read: a pid and a line end. */
  private static final int MAX_LOCK_BYTES = 4096;

  /**
   * A lock file's text. Only a regular file is read, and only its first {@link #MAX_LOCK_BYTES}: a fifo there made
   * every push of the run wait forever, a link to /dev/zero ran it out of memory.
   *
   * @throws NoSuchFileException if there is no lock
   */
  private static String readLock(Path lock) throws IOException {
    if (Files.exists(lock, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(lock, LinkOption.NOFOLLOW_LINKS)) {
      throw new InvalidInputException(lock + ": is not a regular file (a link, fifo, device or directory) where a"
          + " checkpoint run's lock is kept; remove it");
    }
    try (java.io.InputStream in = Files.newInputStream(lock, LinkOption.NOFOLLOW_LINKS)) {
      return new String(in.readNBytes(MAX_LOCK_BYTES), StandardCharsets.UTF_8).strip();
    }
  }

  private static Optional<Long> pid(String text) {
    try {
      return Optional.of(Long.parseLong(text.split("\\s+", 2)[0]));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** Takes the run's lock for this process; waits for a live holder first. */
  static Path lock(Path area, String run, Notices say) throws IOException {
    if (Files.isSymbolicLink(area)) {
      // whoever can write next to SOURCE could point it anywhere: the checkpoint's files were linked or copied there
      throw new InvalidInputException(area + ": is a symbolic link (to " + Files.readSymbolicLink(area) + ") where"
          + " checkpoint push --async stages the checkpoint; it stages only into a directory of its own, never"
          + " through a link: remove the link");
    }
    if (Files.exists(area, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(area, LinkOption.NOFOLLOW_LINKS)) {
      throw new InvalidInputException(area + ": is " + (Files.isRegularFile(area, LinkOption.NOFOLLOW_LINKS)
          ? "a file" : "a FIFO, socket or device") + " where checkpoint push --async stages the checkpoint in a"
          + " directory of its own: move it away");
    }
    boolean posix = area.getFileSystem().supportedFileAttributeViews().contains("posix");
    if (posix && Files.isDirectory(area, LinkOption.NOFOLLOW_LINKS)) {
      java.util.Set<PosixFilePermission> perms = Files.getPosixFilePermissions(area, LinkOption.NOFOLLOW_LINKS);
      if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
        // whoever else can write there can rename the staged directory and put theirs in its place before the push
        throw new InvalidInputException(area + ": others can write to it (" + PosixFilePermissions.toString(perms)
            + ") where checkpoint push --async stages the checkpoint it pushes in the background, so they could swap"
            + " the staged files before they are pushed: 'chmod go-w' it if it is yours, else remove it");
      }
    }
    if (posix) {
      Files.createDirectories(area, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    } else {
      Files.createDirectories(area);
    }
    Path lock = lockOf(area, run);
    while (true) {
      awaitRun(area, run, say);
      try {
        Files.writeString(Files.createFile(lock), record(ProcessHandle.current(), run, Optional.empty()),
            StandardCharsets.UTF_8);
        return lock;
      } catch (FileAlreadyExistsException e) {
        // another push took it between our wait and our create: wait for that one
      }
    }
  }

  /**
   * Hands the lock of {@code run} to {@code pusher} (the detached pusher of {@code stagedDir}), replacing the file in
   * one rename. The pusher may have ended already (it then released nothing, the lock naming its launcher): the lock
   * names its staged directory, whose absence tells the next push that it is over ({@link #awaitRun}).
   */
  static void handOver(Path lock, ProcessHandle pusher, String run, Path stagedDir) throws IOException {
    Path tmp = lock.resolveSibling(lock.getFileName() + "." + pusher.pid() + ".tmp");
    try {
      Files.writeString(tmp, record(pusher, run, Optional.of(stagedDir)), StandardCharsets.UTF_8);
      Files.move(tmp, lock, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
  }

  /** Removes the lock if this process holds it. */
  static void unlock(Path lock) throws IOException {
    unlock(lock, ProcessHandle.current().pid());
  }

  /** Removes the lock if it names the process {@code pid}. */
  private static void unlock(Path lock, long pid) throws IOException {
    try {
      String text = readLock(lock);
      if (pid(text).orElse(-1L) == pid) {
        Files.deleteIfExists(lock);
      }
    } catch (NoSuchFileException e) {
      // nothing to release
    }
  }

  /** What staging did. */
  record Staged(Path dir, Path source, long files, long linked, long copied) {}

  /**
   * Stages {@code source} (a file or a directory) into a new directory of {@code area}: each file is hard-linked, or
   * copied where the file system refuses a link (always copied with {@code copy}). Symbolic links are followed, as push
   * follows them: a link to a file is staged as the file it leads to (a link to it, or a copy where it is on another
   * file system), under the link's own name; a link to a directory as that directory. A dangling link, a link loop
   * and a file that is not regular (a device, socket or pipe) are refused, naming the path, and nothing is left staged.
   */
  static Staged stage(Path source, Path area, String run, long step, boolean copy) throws IOException {
    Path src = source.toAbsolutePath().normalize();
    if (!Files.exists(src, LinkOption.NOFOLLOW_LINKS)) {
      throw new io.ferry.error.NotFoundException("checkpoint source " + src + " does not exist");
    }
    Path dir = Files.createTempDirectory(area, fileName(run) + STEP + step + "-");
    Path target = dir.resolve(src.getFileName().toString());
    long[] n = new long[3];
    try {
      if (Files.isDirectory(src)) {
        Path staging = area.toRealPath();
        try (Stream<Path> s = Files.walk(src, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
          for (Path p : (Iterable<Path>) s::iterator) {
            if (Files.isSymbolicLink(p) && Files.exists(p) && p.toRealPath().startsWith(staging)) {
              // the walk would copy the staging area into itself as it fills it
              throw new InvalidInputException("checkpoint source " + p + ": is a symbolic link into the staging area "
                  + area + ": only what lies outside it can be staged");
            }
            Path to = target.resolve(src.relativize(p).toString());
            if (Files.isDirectory(p)) {
              Files.createDirectories(to);
            } else {
              place(p, to, copy, n);
            }
          }
        }
      } else {
        place(src, target, copy, n);
      }
    } catch (IOException | RuntimeException e) {
      LocalTrees.delete(dir);
      Throwable cause = e instanceof java.io.UncheckedIOException u ? u.getCause() : e;
      if (cause instanceof java.nio.file.FileSystemLoopException loop) {
        throw new InvalidInputException("checkpoint source " + loop.getFile() + ": is a symbolic link loop (it leads"
            + " back to a directory it is in): only what can be followed to its end can be staged");
      }
      throw e;
    }
    return new Staged(dir, target, n[0], n[1], n[2]);
  }

  private static void place(Path from, Path to, boolean copy, long[] n) throws IOException {
    if (!Files.isRegularFile(from)) {
      throw new InvalidInputException("checkpoint source file " + from + (Files.isSymbolicLink(from)
          && !Files.exists(from) ? " is a dangling symbolic link (to " + Files.readSymbolicLink(from) + ")"
          : " is not a regular file (a device, socket or pipe)") + ": only regular files can be staged");
    }
    Path file = Files.isSymbolicLink(from) ? from.toRealPath() : from;
    n[0]++;
    if (copy) {
      Files.copy(file, to);
      n[2]++;
      return;
    }
    try {
      Files.createLink(to, file);
      n[1]++;
    } catch (IOException | UnsupportedOperationException e) {
      Files.copy(file, to);
      n[2]++;
    }
  }

  /** Records a background push in the run's lock ({@link #handOver}; a test may make it fail). */
  @FunctionalInterface
  interface HandOver {
    /** Makes {@code lock} name {@code pusher}, the background push of {@code stagedDir}. */
    void to(Path lock, ProcessHandle pusher, String run, Path stagedDir) throws IOException;
  }

  /** The byte a launcher writes to its background push once the run's lock names the push. */
  private static final int GO = 'g';

  /** How long a launcher waits for the background push it stopped to end. */
  private static final long STOP_WAIT_SECONDS = 60;

  /**
   * Starts the background push of what was staged ({@link #spawn}) and hands the run's lock over to it, then tells it
   * to go on (a byte on its input). The push waits for that ({@link #awaitHandOver}): it never pushes without the lock
   * and never ends before the lock names it (it could not release the lock then, and the next push took it for a
   * crashed one). If the hand-over fails, the push is stopped before it read anything, what was staged and its log are
   * removed, and the IOException says so, naming the lock and the push; the caller still holds the lock.
   */
  static Process launch(List<String> cliArgs, java.util.Map<String, String> env, Path lock, String run, long step,
      Staged staged, HandOver handOver) throws IOException {
    Path log = logOf(staged.dir());
    Process p;
    try {
      p = spawn(cliArgs, log, env);
    } catch (IOException | RuntimeException e) {
      LocalTrees.delete(staged.dir());
      Files.deleteIfExists(log);
      throw e;
    }
    try {
      handOver.to(lock, p.toHandle(), run, staged.dir());
      try (java.io.OutputStream go = p.getOutputStream()) {
        go.write(GO);
      }
      return p;
    } catch (IOException | RuntimeException e) {
      try {
        p.getOutputStream().close(); // the end of its input stops it, should the kill not reach it
      } catch (IOException closing) {
        e.addSuppressed(closing);
      }
      p.destroyForcibly();
      boolean ended;
      try {
        ended = p.waitFor(STOP_WAIT_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        ended = false;
      }
      String said = ended && p.exitValue() != 0 ? lastLine(log).map(l -> " (it said: " + l + ")").orElse("") : "";
      unlock(lock, p.pid());
      LocalTrees.delete(staged.dir());
      Files.deleteIfExists(log);
      throw new IOException("could not hand " + lock + " over to the background push of " + run + " step " + step
          + " (pid " + p.pid() + "): " + e.getMessage() + "; stopped the push" + said + ", nothing was pushed, and"
          + " removed what was staged", e);
    }
  }

  /**
   * Run by the background push before it reads anything: waits until its launcher handed it the run's lock and said
   * so on {@code in} ({@link #launch}). An end of input without that (the launcher failed or was killed before the
   * hand-over) is an IOException: the push stops, nothing pushed, leaving what was staged to be reported. Says on
   * {@code log} (the push's log) that it waits.
   */
  static void awaitHandOver(java.io.InputStream in, java.io.PrintWriter log, String run, long step, Path stagedDir)
      throws IOException {
    log.println("background push of " + run + " step " + step + " (pid " + ProcessHandle.current().pid() + "):"
        + " waiting for the command that staged it to hand it the run's lock");
    log.flush();
    if (in.read() != GO) {
      throw new IOException("the command that staged " + run + " step " + step + " ended before it handed this"
          + " background push the run's lock; nothing was pushed, what it staged is kept in " + stagedDir);
    }
  }

  /**
   * The {@code setsid} program (util-linux), if this system has one: the pusher runs under it, in a session of its
   * own, so that a Ctrl-C stopping the training in a terminal, or the terminal closing, does not stop the push of the
   * checkpoint it staged last. It executes the pusher in its own process (the pid stays the pusher's); {@code --wait}
   * only matters where it must fork, and then keeps a process with the recorded pid alive while the push runs.
   */
  private static Optional<Path> setsid() {
    return Stream.of("/usr/bin/setsid", "/bin/setsid").map(Path::of).filter(Files::isExecutable).findFirst();
  }

  /** Options of this JVM that belong to one process or to a terminal: the pusher does not take them. */
  private static final List<String> NOT_FOR_THE_PUSHER = List.of("-agentlib", "-agentpath", "-javaagent", "-Xrun",
      "-Xdebug", "-Xlog", "-XX:ArchiveClassesAtExit", "-XX:DumpLoadedClassList", "-XX:StartFlightRecording",
      "-XX:FlightRecorderOptions", "-XX:Flags", "-XX:VMOptionsFile", "-Dferry.stderr.tty", "-Dferry.columns");

  /**
   * The options of this JVM ({@code options}: its input arguments) that the pusher runs with too: what the launcher
   * chose for the command (the heap, the collector, the class-data archive, the native zstd library) and what the user
   * added in {@code FERRY_JAVA_OPTS} (a trust store for an https store, a heap); not those that belong to one process
   * or to a terminal ({@link #NOT_FOR_THE_PUSHER}: a debugger's port, an agent, a flight recording or log file, an
   * archive dump, the terminal's width). Then {@code -Dferry.stderr.tty=0}: its standard error is its log. Before
   * 2026-12-08 the pusher ran with the JVM's defaults, whose heap is a quarter of the machine's memory (Ferry's
   * buffer pools take up to half the heap), beside the training it was meant not to disturb.
   */
  static List<String> pusherJvmOptions(List<String> options) {
    List<String> kept = new ArrayList<>();
    for (String o : options) {
      if (NOT_FOR_THE_PUSHER.stream().noneMatch(o::startsWith)) {
        kept.add(o);
      }
    }
    kept.add("-Dferry.stderr.tty=0");
    return kept;
  }

  /**
   * Starts the detached pusher (in a session of its own where {@link #setsid} can): this JVM's java with the same class
   * path and the options {@link #pusherJvmOptions} keeps, re-running the CLI on the staged copy, its output appended to
   * {@code log}, its input a pipe on which {@link #launch} says when it holds the run's lock, and {@code env} added to
   * its environment (secrets such as a store token go there, not on its command line, which other users can list).
   * Returns its process.
   */
  static Process spawn(List<String> cliArgs, Path log, java.util.Map<String, String> env) throws IOException {
    String java = ProcessHandle.current().info().command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> cmd = new ArrayList<>();
    setsid().ifPresent(setsid -> cmd.addAll(List.of(setsid.toString(), "--wait")));
    cmd.add(java);
    cmd.addAll(pusherJvmOptions(ManagementFactory.getRuntimeMXBean().getInputArguments()));
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(FerryCli.class.getName());
    cmd.addAll(cliArgs);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .redirectInput(ProcessBuilder.Redirect.PIPE);
    pb.environment().putAll(env);
    return pb.start();
  }

}
