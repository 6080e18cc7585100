package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A server (or a proxy in front of one) whose answers lack the array the protocol puts in them: every call that reads
 * one fails naming the server and the field. Read as empty, a missing query said nothing was missing, so a push
 * uploaded no chunk and published a version the store could not read, and listings said the store was empty.
 */
@Timeout(60)
class BlankAnswersTest {
  @Test
  void anAnswerWithoutItsArrayFailsTheCallAndAPushPublishesNothing(@TempDir Path tmp) throws IOException {
    try (ServerGroup group = new ServerGroup(tmp.resolve("store"), 1, null)) {
      Path src = Files.createDirectories(tmp.resolve("src"));
      Files.write(src.resolve("a.bin"), new byte[] {1, 2, 3, 4, 5});
      try (Repository local = group.local()) {
        local.push(src, "kept", PushOptions.builder().build());
      }
      HttpBackend client = group.client("", Map.of());
      try {
        String server = group.get(0).uri().toString();
        Map<String, ThrowingCallable> calls = Map.of(
            "missing", () -> client.chunks().missing(List.of(ChunkId.of(new byte[] {9}))),
            "refs", () -> client.refs().list(""),
            "entries", () -> client.refs().log("kept/head"),
            "keys", () -> client.records().list(""),
            "objects", () -> client.chunks().list(o -> { }));
        for (Map.Entry<String, ThrowingCallable> call : calls.entrySet()) {
          group.get(0).blankField.set(call.getKey());
          assertThatThrownBy(call.getValue()).as(call.getKey()).hasMessageContaining(server)
              .hasMessageContaining("no array '" + call.getKey() + "'");
        }
      } finally {
        client.close();
      }
      group.get(0).blankField.set("missing");
      Files.write(src.resolve("b.bin"), new byte[] {6, 7, 8});
      try (Repository remote = group.repo("", Map.of())) {
        assertThatThrownBy(() -> remote.push(src, "m", PushOptions.builder().build()))
            .hasMessageContaining("no array 'missing'");
      }
      group.get(0).blankField.set(null);
      try (Repository local = group.local()) {
        assertThat(local.backend().refs().list("m/")).isEmpty();
      }
    }
  }
}
