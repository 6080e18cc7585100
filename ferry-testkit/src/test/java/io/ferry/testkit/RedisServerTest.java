package io.ferry.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the tests' Redis servers get their ports. */
class RedisServerTest {
  @TempDir Path dir;

  /**
   * A server started on a port where another Redis already answers does not take that server for its own: the new
   * process cannot bind the port and exits, but its first PING reached the other server, which answered PONG, and the
   * test went on against a server it had not started.
   */
  @Test
  void aStartOnAPortAnotherRedisHoldsFails() throws IOException {
    try (RedisServer other = RedisServer.start(dir.resolve("other"))) {
      assertThatThrownBy(() -> RedisServer.startOn(other.port(), dir.resolve("late")).close())
          .isInstanceOf(IOException.class).hasMessageContaining("port " + other.port());
      assertThat(other.command("PING")).isEqualTo("PONG");
    }
  }
}
