package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.ChunkStore;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.FreePort;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code HEAD /v1/diff} answers the GET's headers without measuring the diff, which reads every changed tensor of
 * both versions: it used to do the whole work of the GET (minutes and the memory budget for a large model) and then
 * send no body.
 */
@Timeout(60)
class DiffHeadTest {
  @TempDir Path tmp;

  @Test
  void headMeasuresNothing() throws Exception {
    Tensor kept = new Tensor("kept", DType.F32, new long[] {64, 64}, 1);
    Path v1 = Files.createDirectories(tmp.resolve("v1"));
    ModelGenerator.writeSafetensors(v1.resolve("model.safetensors"),
        List.of(kept, new Tensor("w", DType.F32, new long[] {320, 320}, 2)), Map.of());
    Path v2 = Files.createDirectories(tmp.resolve("v2"));
    ModelGenerator.writeSafetensors(v2.resolve("model.safetensors"),
        List.of(kept, new Tensor("w", DType.F32, new long[] {320, 320}, 3)), Map.of());
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      ChunkStore chunks = repo.backend().chunks();
      repo.push(v1, "m", PushOptions.builder().message("v1").build());
      Set<ChunkId> before = new HashSet<>();
      chunks.list(o -> before.add(o.id()));
      repo.push(v2, "m", PushOptions.builder().message("v2").build());
      // the changed tensor of v2 (its only new object over 300 KiB) is gone: measuring the diff fails on it
      List<ChunkId> gone = new java.util.ArrayList<>();
      chunks.list(o -> {
        if (!before.contains(o.id()) && o.size() > 300 << 10) {
          gone.add(o.id());
        }
      });
      assertThat(gone).hasSize(1);
      chunks.delete(gone.get(0));
      try (FerryServer server = FerryServer.start(repo, ServerOptions.builder()
          .listen("127.0.0.1", FreePort.pick()).accessLog(l -> { }).build())) {
        HttpRequest.Builder diff = HttpRequest.newBuilder(server.uri().resolve("/v1/diff?a=m~1&b=m"))
            .timeout(Duration.ofSeconds(30));
        HttpResponse<String> get = http.send(diff.copy().GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(get.statusCode()).as(get.body()).isNotEqualTo(200);
        assertThat(get.body()).contains(gone.get(0).hex());

        HttpResponse<String> head = http.send(diff.copy().method("HEAD", HttpRequest.BodyPublishers.noBody())
            .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Type")).hasValue("application/json");
        // no length: the GET's is known only once measured (RFC 9110, 9.3.2); never the 0 of the empty answer
        assertThat(head.headers().firstValue("Content-Length")).isEmpty();
        assertThat(head.body()).isEmpty();

        // a reference to no version is refused by a HEAD as by a GET
        HttpResponse<String> none = http.send(HttpRequest.newBuilder(server.uri().resolve("/v1/diff?a=m&b=nosuch"))
            .method("HEAD", HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(30)).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(none.statusCode()).isEqualTo(404);
      }
    }
  }

  /** Once the pair was measured (a GET), a HEAD gives the GET's length, taken from the cache. */
  @Test
  void headOfAMeasuredPairGivesTheLength() throws Exception {
    Path v1 = Files.createDirectories(tmp.resolve("v1"));
    ModelGenerator.writeSafetensors(v1.resolve("model.safetensors"),
        List.of(new Tensor("w", DType.F32, new long[] {64, 64}, 2)), Map.of());
    Path v2 = Files.createDirectories(tmp.resolve("v2"));
    ModelGenerator.writeSafetensors(v2.resolve("model.safetensors"),
        List.of(new Tensor("w", DType.F32, new long[] {64, 64}, 3)), Map.of());
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      repo.push(v1, "m", PushOptions.builder().message("v1").build());
      repo.push(v2, "m", PushOptions.builder().message("v2").build());
      try (FerryServer server = FerryServer.start(repo, ServerOptions.builder()
          .listen("127.0.0.1", FreePort.pick()).accessLog(l -> { }).build())) {
        HttpRequest.Builder diff = HttpRequest.newBuilder(server.uri().resolve("/v1/diff?a=m~1&b=m"))
            .timeout(Duration.ofSeconds(30));
        HttpResponse<byte[]> get = http.send(diff.copy().GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(get.statusCode()).isEqualTo(200);
        HttpResponse<byte[]> head = http.send(diff.copy().method("HEAD", HttpRequest.BodyPublishers.noBody())
            .build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("Content-Length")).hasValue(String.valueOf(get.body().length));
        assertThat(head.headers().firstValue("Content-Type")).hasValue("application/json");
      }
    }
  }
}
