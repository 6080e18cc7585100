package io.ferry.server.web;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.scan.PathFilter;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import io.ferry.testkit.ModelGenerator.Tensor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The diff page and {@code GET /v1/diff} of a model sharded anew, one of whose files was pushed again as opaque bytes:
 * neither showed what {@code ferry diff} shows, the file stored as another kind (it read "changed" with equal sizes)
 * and the count of unchanged tensors another file holds (w, in the file read as opaque, is removed); the API did
 * not list those tensors.
 */
class DiffPageTest {
  /** A file name that would be markup if it were not escaped. */
  static final String HOSTILE = "c<img src=x onerror=\"window.pwned=1\">&.safetensors";

  @TempDir Path tmp;

  @Test
  void showsFilesStoredAsAnotherKindAndTensorsMovedToAnotherFile() throws Exception {
    Tensor x = new Tensor("x", DType.F32, new long[] {4, 4}, 1);
    Tensor y = new Tensor("y", DType.F32, new long[] {8}, 2);
    Tensor z = new Tensor("z", DType.F32, new long[] {2, 2}, 3);
    Tensor w = new Tensor("w", DType.F32, new long[] {3}, 4);
    Path v1 = Files.createDirectories(tmp.resolve("v1"));
    ModelGenerator.writeSafetensors(v1.resolve("a.safetensors"), List.of(x, y), Map.of());
    ModelGenerator.writeSafetensors(v1.resolve("b.safetensors"), List.of(z), Map.of());
    ModelGenerator.writeSafetensors(v1.resolve(HOSTILE), List.of(w), Map.of());
    Path v2 = Files.createDirectories(tmp.resolve("v2"));
    ModelGenerator.writeSafetensors(v2.resolve("a.safetensors"), List.of(x), Map.of());
    ModelGenerator.writeSafetensors(v2.resolve("b.safetensors"), List.of(y, z), Map.of());
    Files.copy(v1.resolve(HOSTILE), v2.resolve(HOSTILE));
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults())) {
      String a = repo.push(v1, "m", PushOptions.builder().message("v1").build()).versionId().hex();
      String b = repo.push(v2, "m", PushOptions.builder().message("v2")
          .opaque(PathFilter.anyOf("--opaque", List.of("c*"))).build()).versionId().hex();
      try (FerryServer dev = FerryServer.start(repo, ServerOptions.builder().listen("127.0.0.1", 0)
          .accessLog(l -> { }).build())) {
        HttpClient http = HttpClient.newHttpClient();
        String query = "?a=m@" + a + "&b=m@" + b;
        HttpResponse<String> api = http.send(HttpRequest.newBuilder(URI.create(dev.uri() + "/v1/diff" + query))
            .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(api.statusCode()).as(api.body()).isEqualTo(200);
        JsonNode d = new ObjectMapper().readTree(api.body());
        assertThat(d.get("movedTensors").toString())
            .isEqualTo("[{\"name\":\"y\",\"fileA\":\"a.safetensors\",\"fileB\":\"b.safetensors\"}]");
        JsonNode f = d.get("files").findParents("path").stream()
            .filter(n -> n.get("path").asText().equals(HOSTILE)).findFirst().orElseThrow();
        assertThat(f.get("formatA").asText() + " -> " + f.get("formatB").asText()).isEqualTo("safetensors -> opaque");

        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(dev.uri() + "/ui/diff" + query))
            .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.body()).contains("1 of 4 tensors differ (1 unchanged moved to another file); 3 files differ")
            .contains("<tr><td>c&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;&amp;.safetensors</td>"
                + "<td>same bytes, stored as safetensors → opaque</td>")
            .doesNotContain("<img");
      }
    }
  }
}
