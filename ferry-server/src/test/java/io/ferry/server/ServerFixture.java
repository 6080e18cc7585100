package io.ferry.server;

import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.repo.Results.PushResult;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * A local store holding one small Hugging Face-style model (tensors big enough for loose chunks, and small ones in
 * packs), and servers over it on free loopback ports; requests through {@link HttpClient}.
 */
final class ServerFixture implements AutoCloseable {
  final Path dir;
  final Repository repo;
  final PushResult pushed;
  final AccessLines accessLog = new AccessLines();
  final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();
  private final List<FerryServer> servers = new ArrayList<>();

  ServerFixture(Path dir) throws IOException {
    this.dir = dir;
    Path template = Template.get();
    io.ferry.testkit.DirectoryState.copy(template.resolve("store"), dir.resolve("store"));
    io.ferry.testkit.DirectoryState.copy(template.resolve("model"), dir.resolve("model"));
    repo = Ferry.open(dir.resolve("store").toString(), StoreOptions.existing(), RepositoryOptions.defaults());
    pushed = repo.push(dir.resolve("model"), "org/tiny:prod", PushOptions.builder().message("first").author("test")
        .build());
  }

  /**
   * The store every fixture starts from, pushed once per test JVM and copied by each fixture (a push of the model
   * costs seconds on a loaded machine; a copy of its few MiB does not). The fixture pushes the same files again, which
   * is "up to date" and gives it the version.
   */
  private static final class Template {
    private static Path dir;

    static synchronized Path get() throws IOException {
      if (dir == null) {
        Path d = java.nio.file.Files.createTempDirectory("ferry-server-fixture");
        Path model = java.nio.file.Files.createDirectories(d.resolve("model"));
        ModelGenerator.writeHfModel(model, ModelGenerator.transformer(3 << 20, DType.BF16, 7), 2 << 20);
        java.nio.file.Files.writeString(model.resolve("config.json"), "{\"model_type\": \"llama\"}");
        try (Repository r = Ferry.open(d.resolve("store").toString(), StoreOptions.createIfMissing(),
            RepositoryOptions.defaults())) {
          r.push(model, "org/tiny:prod", PushOptions.builder().message("first").author("test").build());
        }
        dir = d;
      }
      return dir;
    }
  }

  /** A server with these options (port 0, the fixture's access log). */
  FerryServer start(ServerOptions.Builder b) throws IOException {
    FerryServer s = FerryServer.start(repo, b.listen("127.0.0.1", 0).accessLog(accessLog::add).build());
    servers.add(s);
    return s;
  }

  /**
   * The access log's lines. Jetty writes a request's line after its response is complete, so a client can see the
   * answer before the line exists: tests wait for lines ({@link #await}) rather than read them once.
   */
  static final class AccessLines {
    private final List<String> lines = new ArrayList<>();

    synchronized void add(String line) {
      lines.add(line);
      notifyAll();
    }

    /** The lines matching {@code p} once there are at least {@code count}, or those there are after 60 s. */
    synchronized List<String> await(Predicate<String> p, int count) throws InterruptedException {
      long deadline = System.nanoTime() + 60_000_000_000L;
      List<String> found = matching(p);
      for (long left = deadline - System.nanoTime(); found.size() < count && left > 0;
          left = deadline - System.nanoTime()) {
        wait(Math.max(1, left / 1_000_000));
        found = matching(p);
      }
      return found;
    }

    private List<String> matching(Predicate<String> p) {
      return lines.stream().filter(p).toList();
    }
  }

  /** The fixture's tokens file, which {@link #token} writes and {@link #startWithTokens} serves. */
  Path tokens() {
    return dir.resolve("tokens.json");
  }

  /** Creates a token {@code name} with one scope in the fixture's tokens file; returns the token to send. */
  String token(String name, String scope) throws IOException {
    return io.ferry.server.auth.TokenFile.create(tokens(), name, List.of(io.ferry.server.auth.Scope.parse(scope)),
        java.time.Clock.systemUTC(), RANDOM).token();
  }

  private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

  /** A server that takes the tokens of the fixture's tokens file. */
  FerryServer startWithTokens() throws IOException {
    return start(ServerOptions.builder().tokens(io.ferry.server.auth.TokenFile.open(tokens())));
  }

  /** A development server with a small upload limit (8 MiB). */
  FerryServer startDev() throws IOException {
    return start(ServerOptions.builder().maxObjectSize(8 << 20));
  }

  HttpResponse<byte[]> send(HttpRequest.Builder r) throws IOException, InterruptedException {
    return http.send(r.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  static HttpRequest.Builder get(URI base, String path) {
    return HttpRequest.newBuilder(base.resolve(path));
  }

  @Override
  public void close() throws IOException {
    for (FerryServer s : servers) {
      s.close();
    }
    repo.close();
  }
}
