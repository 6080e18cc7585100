package io.ferry.store.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.Ferry;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.PullOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store URI that lists two real servers ({@link FerryServer}, what {@code ferry serve} runs) started over two
 * different stores by mistake, each holding its own version of one model.
 */
@Timeout(60)
class ServersOfTwoStoresTest {
  @TempDir Path tmp;

  private Repository store(String name, int seed) throws IOException {
    Path src = tmp.resolve("src-" + name);
    Files.createDirectories(src);
    byte[] b = new byte[300 << 10];
    new Random(seed).nextBytes(b);
    Files.write(src.resolve("weights.bin"), b);
    Files.writeString(src.resolve("config.json"), "{\"store\": \"" + name + "\"}");
    Repository r = Ferry.open(tmp.resolve("store-" + name).toString(), StoreOptions.createIfMissing(),
        RepositoryOptions.defaults());
    r.push(src, "m:prod", PushOptions.builder().build());
    return r;
  }

  /**
   * Every read of an object one server lacks used to fail as a damaged store ("object ... is missing", exit 3, "run
   * ferry verify"), naming neither server; the other servers are now asked, and the error says that the servers serve
   * different stores, naming the one that lacks the object and the one that holds it.
   */
  @Test
  void serversOfDifferentStoresAreSaidToBeSo() throws IOException {
    try (Repository a = store("a", 1); Repository b = store("b", 2);
        FerryServer sa = FerryServer.start(a, ServerOptions.builder().listen("127.0.0.1", 0).build());
        FerryServer sb = FerryServer.start(b, ServerOptions.builder().listen("127.0.0.1", 0).build());
        Repository client = Ferry.open(sa.uri() + "," + sb.uri() + "?balance=round-robin&hedge=false",
            StoreOptions.existing(), RepositoryOptions.defaults())) {
      assertThatThrownBy(() -> client.pull("m:prod", tmp.resolve("out"), PullOptions.defaults()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("do not serve one store")
          .hasMessageContaining(sa.uri().toString())
          .hasMessageContaining(sb.uri().toString())
          .hasMessageContaining("held by");
      assertThat(tmp.resolve("out")).doesNotExist();
    }
  }
}
