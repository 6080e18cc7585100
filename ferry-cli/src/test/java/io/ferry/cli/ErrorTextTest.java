package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Errors read as words: no Java class names, and the JDK's bare-path file errors say what is wrong with the path. */
class ErrorTextTest {
  @Test
  void aServersStackTraceInAMessageIsLeftOut() {
    // as Hadoop's RemoteException carries the NameNode's exception to its client, wrapped by Ferry's own message
    String remote = "Permission denied: user=alice, access=WRITE, inode=\"/ferry/objects\":hdfs:supergroup:drwxr-xr-x"
        + "\n\tat org.apache.hadoop.hdfs.server.namenode.FSPermissionChecker.check(FSPermissionChecker.java:506)"
        + "\n\tat org.apache.hadoop.ipc.Server$Handler.run(Server.java:3198)"
        + "\n\tat java.base/java.lang.Thread.run(Thread.java:840)\n\t... 12 more";
    assertThat(ErrorText.of(new java.io.IOException("pushing org/m to hdfs://nn/ferry: " + remote + "; nothing was"
        + " published"))).isEqualTo("pushing org/m to hdfs://nn/ferry: Permission denied: user=alice, access=WRITE,"
        + " inode=\"/ferry/objects\":hdfs:supergroup:drwxr-xr-x; nothing was published");
    assertThat(ErrorText.of(new java.io.IOException("two lines\nof text at the end (kept)")))
        .isEqualTo("two lines\nof text at the end (kept)");
    // the NameNode's messages end with a newline, which the error line printed as "\x0a"
    assertThat(ErrorText.printable(ErrorText.of(new java.io.IOException("Permission denied: user=alice, access=WRITE,"
        + " inode=\"/ferry/tmp\":hdfs:supergroup:drwxr-xr-x\n")))).endsWith("drwxr-xr-x");
  }

  @Test
  void fileErrorsSayWhyAndNothingNamesAClass() {
    assertThat(ErrorText.of(new NoSuchFileException("/data/x"))).isEqualTo("/data/x: no such file or directory");
    assertThat(ErrorText.of(new AccessDeniedException("/data/x"))).isEqualTo("/data/x: permission denied");
    assertThat(ErrorText.of(new java.net.UnknownHostException("namenode"))).startsWith("unknown host namenode");
    assertThat(ErrorText.of(new NullPointerException())).doesNotContain("Exception").contains("-v");
    assertThat(ErrorText.of(new IOException(new IllegalStateException("the cause")))).contains("the cause");
    assertThat(ErrorText.of(new StackOverflowError())).doesNotContain("Error").contains("recursion");
  }

  @Test
  void aMissingPushSourceIsOneLineWithoutAClassName(@TempDir Path tmp) {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path missing = tmp.resolve("no-such-model");
    cli.run("push", missing.toString(), "m").exits(1).oneLineError(missing.toString());
    cli.run("pull", "m", tmp.resolve("out").toString()).exits(1).oneLineError("no model 'm'");
  }
}
