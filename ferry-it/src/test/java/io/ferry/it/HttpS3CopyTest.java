package io.ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.CopyResult;
import io.ferry.repo.Results.PushResult;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import io.ferry.store.StoreOptions;
import io.ferry.store.http.HttpSettings;
import io.ferry.store.s3.LocalS3;
import io.ferry.testkit.DirectoryState;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Copies between an HTTP store (a server with tokens over a local store) and S3 (S3Proxy), both ways: a model pushed
 * through one server, copied to S3 and from S3 to a second server, keeps its version id, and pulls byte-identical
 * from the last. (Copies between HTTP and local stores are in ferry-cli's HttpStoreCliTest.) With {@code CI=true} an
 * S3 engine that does not start fails the test.
 */
@Timeout(120)
class HttpS3CopyTest {
  @TempDir Path tmp;

  @Test
  void copiesBetweenServersAndS3KeepTheVersionId() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    Path src = tmp.resolve("src");
    Files.createDirectories(src.resolve("weights"));
    byte[] b = new byte[(2 << 20) + 12345];
    new Random(31).nextBytes(b);
    Files.write(src.resolve("weights/model.bin"), b);
    Files.writeString(src.resolve("config.json"), "{\"layers\": 2}");
    Path tokens = tmp.resolve("tokens.json");
    String token = TokenFile.create(tokens, "copier", List.of(Scope.parse("write:org/*")), Clock.systemUTC(),
        new SecureRandom()).token();
    StoreOptions withToken = StoreOptions.existing().withSettings(Map.of(HttpSettings.TOKEN, token));

    try (Repository storeA = Ferry.open(tmp.resolve("a").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults());
        Repository storeB = Ferry.open(tmp.resolve("b").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults());
        FerryServer serverA = FerryServer.start(storeA, ServerOptions.builder().listen("127.0.0.1", 0)
            .tokens(TokenFile.open(tokens)).build());
        FerryServer serverB = FerryServer.start(storeB, ServerOptions.builder().listen("127.0.0.1", 0)
            .tokens(TokenFile.open(tokens)).build());
        Repository httpA = Ferry.open(serverA.uri().toString(), withToken, RepositoryOptions.defaults());
        Repository httpB = Ferry.open(serverB.uri().toString(), withToken, RepositoryOptions.defaults());
        Repository onS3 = Ferry.open(LocalS3.freshStoreUri("http-copy").toString(), s3.options(true),
            RepositoryOptions.defaults())) {
      PushResult pushed = httpA.push(src, "org/m:prod", PushOptions.builder().message("through a").build());
      assertThat(storeA.resolve("org/m:prod").id()).isEqualTo(pushed.versionId());

      CopyResult toS3 = httpA.copyTo("org/m:prod", onS3, true, TransferListener.NONE);
      assertThat(toS3.version()).as("HTTP → S3").isEqualTo(pushed.versionId());
      assertThat(onS3.resolve("org/m:prod").id()).isEqualTo(pushed.versionId());

      CopyResult fromS3 = onS3.copyTo("org/m:prod", httpB, true, TransferListener.NONE);
      assertThat(fromS3.version()).as("S3 → HTTP").isEqualTo(pushed.versionId());
      assertThat(fromS3.versionsSent()).isEqualTo(1);
      assertThat(storeB.resolve("org/m:prod").id()).isEqualTo(pushed.versionId());
      CopyResult again = onS3.copyTo("org/m:prod", httpB, false, TransferListener.NONE);
      assertThat(again.bytesSent()).as("a repeated copy sends nothing").isZero();

      Path out = tmp.resolve("out");
      assertThat(httpB.pull("org/m:prod", out, PullOptions.defaults().withVerify(true)).id())
          .isEqualTo(pushed.versionId());
      assertThat(DirectoryState.of(out)).isEqualTo(DirectoryState.of(src));
    }
  }
}
