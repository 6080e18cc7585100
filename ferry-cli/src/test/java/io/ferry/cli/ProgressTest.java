package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The progress line: what it shows, that it fits the terminal and is cleared, and when it is shown at all. */
class ProgressTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void showsPercentBytesRateEtaAndFilesWithinTheWidthThenOneSummaryLine() {
    AtomicLong now = new AtomicLong(0);
    StringWriter out = new StringWriter();
    Progress p = new Progress(new PrintWriter(out), 100, now::get);
    p.phase("pull", 100L << 20);
    p.files(4);
    now.set(2 * SECOND);
    p.progress(25L << 20);
    p.fileDone();
    String line = p.line(now.get());
    assertThat(line).startsWith("pull    25% [").contains("25.0 MiB / 100.0 MiB").contains("12.5 MiB/s")
        .contains("ETA 0:06").contains("1/4 files");
    assertThat(line.length()).isLessThan(100);
    assertThat(out.toString()).as("drawn in place: carriage return, erase to end of line")
        .startsWith("\r\u001b[K").doesNotContain("\n");
    // redrawn at most ten times a second
    int before = out.toString().length();
    p.progress(1);
    assertThat(out.toString().length()).isEqualTo(before);
    now.set(3 * SECOND);
    p.progress((75L << 20) - 1);
    p.fileDone();
    p.fileDone();
    p.fileDone();
    assertThat(p.line(now.get())).contains("100% [").contains("ETA 0:00").contains("4/4 files");
    p.done();
    String all = out.toString();
    String last = all.substring(all.lastIndexOf("\r\u001b[K") + 4);
    assertThat(last).isEqualTo("pull: 100.0 MiB in 3.0 s (33.3 MiB/s), 4/4 files\n");
    assertThat(all.chars().filter(c -> c == '\n').count()).as("one summary line").isEqualTo(1);
  }

  @Test
  void narrowTerminalsGetNoBarAndNothingWraps() {
    AtomicLong now = new AtomicLong(0);
    for (int width : new int[] {20, 40, 60, 80, 200}) {
      Progress p = new Progress(new PrintWriter(new StringWriter()), width, now::get);
      p.phase("verify", 5L << 30);
      p.files(1200);
      now.addAndGet(7 * SECOND);
      p.progress(1L << 30);
      String line = p.line(now.get());
      assertThat(line.length()).as("width %d: %s", width, line).isLessThan(width);
      assertThat(line).startsWith("verify  20%");
      assertThat(line.contains("[")).as("bar at width %d", width).isEqualTo(width >= 80);
    }
  }

  @Test
  void aPhaseWithoutBytesAndLongEtas() {
    AtomicLong now = new AtomicLong(0);
    Progress p = new Progress(new PrintWriter(new StringWriter()), 120, now::get);
    p.phase("push", 0);
    assertThat(p.line(0)).contains("100%").contains("ETA --:--").doesNotContain("files");
    p.phase("push", 10_000L << 20);
    now.set(SECOND);
    p.progress(1L << 20);
    assertThat(p.line(now.get())).contains("ETA 2:46:39");
    assertThat(Progress.clock(59)).isEqualTo("0:59");
    assertThat(Progress.clock(3600)).isEqualTo("1:00:00");
  }

  @Test
  void shownWhenStderrIsATerminalAsTheLauncherSays() {
    Map<String, String> env = Map.of();
    assertThat(Progress.shown(false, false, env, "1", false)).as("stderr a tty, stdout captured").isTrue();
    assertThat(Progress.shown(false, false, env, "0", true)).as("stderr redirected").isFalse();
    assertThat(Progress.shown(false, false, env, null, true)).as("no launcher: Java's console").isTrue();
    assertThat(Progress.shown(false, false, env, null, false)).isFalse();
    assertThat(Progress.shown(true, false, env, "1", true)).as("--json").isFalse();
    assertThat(Progress.shown(false, true, env, "1", true)).as("--quiet").isFalse();
    assertThat(Progress.shown(false, false, Map.of("FERRY_NO_PROGRESS", "1"), "1", true)).isFalse();
    assertThat(Progress.shown(false, false, Map.of("TERM", "dumb"), "1", true)).isFalse();
    assertThat(Progress.shown(false, false, Map.of("FERRY_PROGRESS", "1"), "0", false)).isTrue();
    assertThat(Progress.columns("132", "80")).isEqualTo(132);
    assertThat(Progress.columns(null, "100")).isEqualTo(100);
    assertThat(Progress.columns("x", null)).isEqualTo(80);
  }

  @Test
  void quietIsAnOptionOfEveryCommand(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
    Cli cli = new Cli(tmp.resolve("store")).init();
    assertThat(cli.run("ls", "--quiet").ok().err()).isEmpty();
    assertThat(cli.run("verify", "-q").ok().err()).isEmpty();
  }
}
