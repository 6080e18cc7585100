package io.ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./ferry} launcher, the README's way in, as users run it: the JVM accepts every option it adds (heap,
 * huge pages, the class-data archive it makes and how it maps it), its commands work and print nothing of the JVM's
 * own, and a link to it runs it too. It runs a copy of the launcher beside the CLI jar and libraries this build made
 * (linked, not copied), marked as built, so that it neither builds nor touches the checkout's own archive.
 */
class LauncherTest {
  @TempDir static Path root;

  private static Path launcher;

  @BeforeAll
  static void copyTheLauncherBesideThisBuild() throws IOException {
    Path checkout = Path.of("..").toAbsolutePath().normalize();
    Path target = checkout.resolve("ferry-cli").resolve("target");
    Path jar = target.resolve("ferry-cli-0.1.0-SNAPSHOT.jar");
    boolean built = Files.isRegularFile(jar) && Files.isDirectory(target.resolve("lib"));
    if (System.getenv("CI") != null) {
      assertThat(built).as("the CLI jar and its libraries in %s (mvn verify packages them first)", target).isTrue();
    }
    assumeTrue(built, "the CLI is not packaged (run mvn verify or install)");
    launcher = root.resolve("ferry");
    Files.copy(checkout.resolve("ferry"), launcher);
    Path cli = Files.createDirectories(root.resolve("ferry-cli").resolve("target"));
    Files.createSymbolicLink(cli.resolve(jar.getFileName()), jar);
    Files.createSymbolicLink(cli.resolve("lib"), target.resolve("lib"));
    Files.createFile(cli.resolve(".ferry-built"));
  }

  private record Run(int code, String out, String err) {}

  private static Run run(Path script, String... args) throws Exception {
    return run(java.util.Map.of(), script, args);
  }

  /** Runs the launcher with {@code env} added to this process's environment. */
  private static Run run(java.util.Map<String, String> env, Path script, String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of("bash", script.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(root.toFile());
    pb.environment().remove("FERRY_JAVA_OPTS");
    pb.environment().remove("FERRY_HEAP");
    pb.environment().remove("FERRY_STORE");
    pb.environment().putAll(env);
    Path out = Files.createTempFile(root, "out", ".txt");
    Path err = Files.createTempFile(root, "err", ".txt");
    Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("%s finished", cmd).isTrue();
    return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
        Files.readString(err, StandardCharsets.UTF_8));
  }

  @Test
  void theLauncherRunsCommandsWithItsOwnOptionsAndArchive() throws Exception {
    Run version = run(launcher, "--version");
    assertThat(version.code()).as("ferry --version: %s", version.err()).isZero();
    assertThat(version.out()).startsWith("ferry ");
    assertThat(version.err()).as("nothing from the JVM on stderr").isEmpty();

    String store = root.resolve("store").toString();
    Run init = run(launcher, "init", "--store", store);
    assertThat(init.code()).as("ferry init: %s", init.err()).isZero();
    Run ls = run(launcher, "ls", "--store", store);
    assertThat(ls.code()).as("ferry ls: %s", ls.err()).isZero();
    assertThat(ls.out()).contains("no models in");
    assertThat(ls.err()).isEmpty();
    // the archive the launcher made for this copy, which the commands above mapped
    assertThat(root.resolve("ferry-cli").resolve("target").resolve("ferry.jsa")).isRegularFile();

    Run bad = run(launcher, "ls", "--store", root.resolve("nothing-here").toString());
    assertThat(bad.code()).as("ls of a missing store fails").isNotZero();
    assertThat(bad.err()).contains("no Ferry store at");
  }

  /**
   * A launcher stopped while it makes the class-data archive (a signal: Ctrl-C, a kill) removes its scratch directory
   * (43 MB once the archive is dumped) instead of leaving it in the temporary directory. A stand-in JDK's java holds
   * the archive's training run until the test has sent the signal, through two named pipes, so nothing depends on
   * timing.
   */
  @Test
  void aLauncherStoppedWhileItMakesTheArchiveLeavesNoScratchBehind(@TempDir Path dir) throws Exception {
    Path copy = Files.createDirectories(dir.resolve("checkout"));
    Files.copy(launcher, copy.resolve("ferry"));
    Path cli = Files.createDirectories(copy.resolve("ferry-cli").resolve("target"));
    Path built = root.resolve("ferry-cli").resolve("target");
    Files.createSymbolicLink(cli.resolve("ferry-cli-0.1.0-SNAPSHOT.jar"),
        built.resolve("ferry-cli-0.1.0-SNAPSHOT.jar").toRealPath());
    Files.createSymbolicLink(cli.resolve("lib"), built.resolve("lib").toRealPath());
    Files.createFile(cli.resolve(".ferry-built"));
    Path started = dir.resolve("started");
    Path goOn = dir.resolve("go-on");
    for (Path fifo : List.of(started, goOn)) {
      assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    }
    Path jdk = Files.createDirectories(dir.resolve("jdk").resolve("bin"));
    Path java = jdk.resolve("java");
    Files.writeString(java, "#!/usr/bin/env bash\n"
        + "for a in \"$@\"; do\n"
        + "  if [ \"$a\" = io.ferry.cli.CdsTraining ]; then echo started > '" + started + "'; read -r _ < '" + goOn
        + "'; exit 1; fi\n"
        + "done\n");
    assertThat(java.toFile().setExecutable(true)).isTrue();
    Path tmp = Files.createDirectories(dir.resolve("tmp"));
    ProcessBuilder pb = new ProcessBuilder("bash", copy.resolve("ferry").toString(), "--version")
        .directory(copy.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("out.txt").toFile());
    pb.environment().put("FERRY_JAVA_HOME", jdk.getParent().toString());
    pb.environment().put("TMPDIR", tmp.toString());
    Process p = pb.start();
    assertThat(Files.readString(started).strip()).isEqualTo("started"); // blocks until the training run started
    assertThat(tmp.toFile().list()).as("the archive's scratch directory while it is made").hasSize(1);
    p.destroy(); // SIGTERM to the launcher, which runs its trap once the training run it waits for has ended
    Files.writeString(goOn, "go\n");
    assertThat(p.waitFor(1, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).as("the launcher ends as the signal says: %s", Files.readString(dir.resolve("out.txt")))
        .isEqualTo(143);
    assertThat(tmp.toFile().list()).as("nothing left in the temporary directory").isEmpty();
  }

  /**
   * Two launchers started at once that both find the CLI out of date build it once: the second waits for the first's
   * build and then runs. Before, both ran Maven in the same tree at once, and one failed with "build failed". A
   * stand-in {@code mvn} refuses to run beside another and holds its build until the test says, through named pipes,
   * and a stand-in JDK's java says what it ran, so nothing depends on timing.
   */
  @Test
  void twoLaunchersThatFindTheCliOutOfDateBuildItOnce(@TempDir Path dir) throws Exception {
    Path copy = Files.createDirectories(dir.resolve("checkout"));
    Files.copy(launcher, copy.resolve("ferry"));
    Path cli = Files.createDirectories(copy.resolve("ferry-cli").resolve("target"));
    Path built = root.resolve("ferry-cli").resolve("target");
    Path started = dir.resolve("started");
    Path goOn = dir.resolve("go-on");
    for (Path fifo : List.of(started, goOn)) {
      assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    }
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path mvn = bin.resolve("mvn");
    Files.writeString(mvn, "#!/usr/bin/env bash\n"
        + "mkdir '" + dir.resolve("building") + "' || { echo 'a second build ran beside the first'; exit 1; }\n"
        + "echo started > '" + started + "'\n"
        + "read -r _ < '" + goOn + "'\n"
        + "ln -s '" + built.resolve("ferry-cli-0.1.0-SNAPSHOT.jar").toRealPath() + "' '"
        + cli.resolve("ferry-cli-0.1.0-SNAPSHOT.jar") + "'\n"
        + "ln -s '" + built.resolve("lib").toRealPath() + "' '" + cli.resolve("lib") + "'\n"
        + "rmdir '" + dir.resolve("building") + "'\n");
    Path jdk = Files.createDirectories(dir.resolve("jdk").resolve("bin"));
    Path javaBin = jdk.resolve("java");
    Files.writeString(javaBin, "#!/usr/bin/env bash\n"
        + "for a in \"$@\"; do if [ \"$a\" = io.ferry.cli.CdsTraining ]; then exit 1; fi; done\n"
        + "echo \"ran ${*: -1}\"\n");
    for (Path script : List.of(mvn, javaBin)) {
      assertThat(script.toFile().setExecutable(true)).isTrue();
    }
    List<Process> launchers = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      ProcessBuilder pb = new ProcessBuilder("bash", copy.resolve("ferry").toString(), "--version")
          .directory(copy.toFile()).redirectOutput(dir.resolve("out" + i + ".txt").toFile());
      pb.environment().put("PATH", bin + File.pathSeparator + System.getenv("PATH"));
      pb.environment().put("FERRY_JAVA_HOME", jdk.getParent().toString());
      launchers.add(pb.start());
      if (i == 0) {
        assertThat(Files.readString(started).strip()).isEqualTo("started"); // the first one's build is under way
      }
    }
    // the second says that it waits, or (before) runs a second build, which fails at once and ends it
    String said = "";
    try (var err = new BufferedReader(new InputStreamReader(launchers.get(1).getErrorStream(),
        StandardCharsets.UTF_8))) {
      for (String line = err.readLine(); line != null; line = err.readLine()) {
        said += line + "\n";
        if (line.contains("waiting")) {
          break;
        }
      }
      try {
        assertThat(said).as("the second launcher while the first builds").contains("another ferry is building the CLI");
      } finally {
        Files.writeString(goOn, "go\n"); // the first one's build ends, whatever the second did
      }
      for (int i = 0; i < 2; i++) {
        assertThat(launchers.get(i).waitFor(1, TimeUnit.MINUTES)).isTrue();
        assertThat(launchers.get(i).exitValue()).as("launcher %d", i).isZero();
        assertThat(Files.readString(dir.resolve("out" + i + ".txt"))).isEqualTo("ran --version\n");
      }
    }
    assertThat(copy.resolve("ferry-cli").resolve("target").resolve(".ferry-built")).isRegularFile();
  }

  /** A FERRY_HEAP the JVM cannot read is named; the JVM said only "Invalid maximum heap size: -Xmxabc". */
  @Test
  void aHeapSizeTheJvmCannotReadIsNamed() throws Exception {
    Run r = run(java.util.Map.of("FERRY_HEAP", "abc"), launcher, "ls", "--store", root.resolve("none").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().strip()).isEqualTo("ferry: FERRY_HEAP 'abc' is not a heap size: a number and an optional unit,"
        + " e.g. 2g or 512m");
  }

  /**
   * A FERRY_HEAP below the JVM's least heap, 2 MiB, is named too; the JVM said "Invalid maximum heap size: -Xmx0" or,
   * on stdout, "Too small maximum heap".
   */
  @Test
  void aHeapSizeBelowTheJvmsLeastIsNamed() throws Exception {
    for (String heap : List.of("0", "0m", "1m", "2047k", "2097151", "010")) {
      Run r = run(java.util.Map.of("FERRY_HEAP", heap), launcher, "ls", "--store", root.resolve("none").toString());
      assertThat(r.code()).as("FERRY_HEAP=%s", heap).isEqualTo(1);
      assertThat(r.out()).as("FERRY_HEAP=%s", heap).isEmpty();
      assertThat(r.err().strip()).isEqualTo("ferry: FERRY_HEAP '" + heap + "' is below the least heap Java starts"
          + " with, 2m; Ferry needs more, e.g. 2g");
    }
    Run least = run(java.util.Map.of("FERRY_HEAP", "2048k"), launcher, "--version");
    assertThat(least.err()).doesNotContain("FERRY_HEAP '");
  }

  @Test
  void aLinkToTheLauncherRunsTheCheckoutItPointsTo() throws Exception {
    Path bin = Files.createDirectories(root.resolve("bin"));
    Path link = Files.createSymbolicLink(bin.resolve("ferry"), Path.of("..").resolve("ferry"));
    Run version = run(link, "--version");
    assertThat(version.code()).as("ferry --version through a link: %s", version.err()).isZero();
    assertThat(version.out()).startsWith("ferry ");
  }

  /**
   * Under the C or POSIX locale Java names files in ASCII (sun.jnu.encoding, read-only on the command line), so a model
   * with any other character in a file name could be neither pushed nor pulled; the launcher runs Java with a UTF-8
   * locale then, and the names round-trip.
   */
  @Test
  void aModelWithFileNamesBeyondAsciiRoundTripsUnderTheCLocale(@TempDir Path dir) throws Exception {
    Path model = Files.createDirectories(dir.resolve("model"));
    String name = "t\u00f6kenizer-\u65e5\u672c.json";
    Files.writeString(model.resolve(name), "{\"vocab\": [\"\u00e9\"]}\n");
    java.util.Map<String, String> c = java.util.Map.of("LC_ALL", "C", "LANG", "C");
    String store = dir.resolve("store").toString();
    Run init = run(c, launcher, "init", "--store", store);
    assertThat(init.code()).as("ferry init: %s", init.err()).isZero();
    Run push = run(c, launcher, "push", "--store", store, model.toString(), "names");
    assertThat(push.code()).as("ferry push under LC_ALL=C: %s", push.err()).isZero();
    Run show = run(c, launcher, "show", "--store", store, "names");
    assertThat(show.code()).as("ferry show: %s", show.err()).isZero();
    assertThat(show.out()).contains(name);
    Path out = dir.resolve("out");
    Run pull = run(c, launcher, "pull", "--store", store, "names", out.toString());
    assertThat(pull.code()).as("ferry pull under LC_ALL=C: %s", pull.err()).isZero();
    assertThat(out.resolve(name)).hasSameTextualContentAs(model.resolve(name));
  }
  /**
   * A system without the C.UTF-8 locale (older glibc builds it in only when installed) gets another installed UTF-8
   * locale: exporting a name that is not installed left Java in the C locale, as if nothing were done. {@code locale}
   * and {@code java} are stand-ins here that list locales and print what the JVM would be started under.
   */
  @Test
  void withoutTheCUtf8LocaleTheLauncherTakesAnInstalledUtf8One(@TempDir Path dir) throws Exception {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path locale = bin.resolve("locale");
    Files.writeString(locale, "#!/bin/sh\ncase \"$1\" in\n  charmap) echo ANSI_X3.4-1968 ;;\n"
        + "  -a) printf 'C\\nPOSIX\\nen_GB.utf8\\nde_DE.utf8\\n' ;;\nesac\n");
    Path jdk = Files.createDirectories(dir.resolve("jdk").resolve("bin"));
    Path fakeJava = jdk.resolve("java");
    Files.writeString(fakeJava, "#!/bin/sh\necho \"LC_ALL=$LC_ALL\"\n");
    for (Path p : List.of(locale, fakeJava)) {
      Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    }
    java.util.Map<String, String> env = java.util.Map.of("LC_ALL", "C", "LANG", "C",
        "PATH", bin + java.io.File.pathSeparator + System.getenv("PATH"),
        "FERRY_JAVA_HOME", jdk.getParent().toString());
    Run version = run(env, launcher, "--version");
    assertThat(version.out().lines().distinct()).as("what the JVM was started under: %s", version.err())
        .containsExactly("LC_ALL=en_GB.utf8");
  }
}
