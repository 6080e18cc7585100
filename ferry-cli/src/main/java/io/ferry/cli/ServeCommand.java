package io.ferry.cli;

import io.ferry.repo.Repository;
import io.ferry.server.FerryServer;
import io.ferry.server.ServerOptions;
import io.ferry.server.auth.TokenFile;
import io.ferry.server.http.CrossOrigin;
import io.ferry.server.http.MemoryBudget;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", description = "Serve the store over HTTP: the /v1/store protocol (for --store http://...),"
    + " a model API and a Hugging Face-compatible read endpoint (docs/http-api.md).",
    footer = {"%nWithout --tokens this is a development server: every request is allowed",
        "and it listens on loopback only.", "%nExamples:%n  ferry serve --store /data/ferry --listen 127.0.0.1:8080",
        "  ferry token create --tokens tokens.json --scope 'read:*' --name readers",
        "  ferry serve --store s3://models/ferry --listen 0.0.0.0:8443 \\",
        "      --tokens tokens.json --tls-cert cert.pem --tls-key key.pem",
        "  ferry serve --store /data/ferry --cors-origin http://localhost:3000"})
final class ServeCommand extends StoreCommand {
  @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:8080",
      description = "Address and port to listen on; port 0 picks a free one (default: ${DEFAULT-VALUE}).")
  String listen;

  @Option(names = "--tokens", paramLabel = "FILE", description = "Tokens file (ferry token create); without it,"
      + " a development server on loopback only.")
  Path tokens;

  @Option(names = "--tls-cert", paramLabel = "PEM", description = "TLS certificate chain (PEM); serves HTTPS and"
      + " HTTP/2.")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "PEM", description = "TLS private key (PEM, PKCS#8).")
  Path tlsKey;

  @Option(names = "--access-log", paramLabel = "FILE", description = "Append the access log here (default: stderr).")
  Path accessLog;

  @Option(names = "--idle-timeout", paramLabel = "DURATION", defaultValue = "30s",
      description = "Close connections idle this long (default: ${DEFAULT-VALUE}).")
  Duration idleTimeout;

  @Option(names = "--max-object-size", paramLabel = "BYTES", converter = ByteSizeConverter.class,
      description = "Largest upload accepted, in bytes with an optional unit: 135266304, 129m, 1g (default: "
          + (ServerOptions.DEFAULT_MAX_OBJECT_SIZE >> 20) + "m).")
  Long maxObjectSize;

  @Option(names = "--min-held-rate", paramLabel = "RATE", converter = ByteRateConverter.class,
      description = "Slowest a transfer holding a share of the server's memory budget (an upload or request body above"
      + " 64 KiB, a decoded chunk being sent) may go once it took 5 s, in bytes per second: 256k, 1m... A slower one"
      + " is cut off and gives its share back (default: 256k).")
  Long minHeldRate;

  @Option(names = "--cors-origin", paramLabel = "ORIGIN", split = ",", description = "Let web pages of this origin"
      + " (scheme, host and port, as a browser sends it) call the server from a browser, each with a token of its"
      + " own (cross-origin resource sharing); repeatable. * allows every origin, with --tokens only. Default: none.")
  List<String> corsOrigins = List.of();

  @Option(names = "--public-url", paramLabel = "URL", description = "The server as its clients reach it, behind a"
      + " proxy that ends TLS (https://models.example.com, at the root of its host): the absolute URLs"
      + " the server builds (the Hugging Face endpoint's Link to the next page of commits) name it, and the store"
      + " browser takes its forms from it. Default: the scheme, host and port of each request.")
  String publicUrl;

  @Override
  int run() throws IOException {
    int colon = listen.lastIndexOf(':');
    if (colon < 0) {
      throw usage("--listen '" + listen + "' is not HOST:PORT");
    }
    if (colon == 0) {
      throw usage("--listen '" + listen + "' is not HOST:PORT: the host is missing (127.0.0.1" + listen
          + " for this machine only)");
    }
    String host = listen.substring(0, colon);
    if (host.startsWith("[") != host.endsWith("]") || host.startsWith("[") && host.length() < 3) {
      // '[::1' was split at its last ':' and the host '[:' could not be resolved
      throw usage("--listen '" + listen + "' is not HOST:PORT: an IPv6 host is written in brackets, [::1]:8080");
    }
    if (host.startsWith("[")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(listen.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw usage("--listen '" + listen + "': port is not a number");
    }
    if (port < 0 || port > 65535) {
      throw usage("--listen '" + listen + "': port " + port + " is outside 0..65535");
    }
    if (idleTimeout.isZero()) {
      throw usage("--idle-timeout must be longer than 0, not '" + given("--idle-timeout") + "'");
    }
    if (maxObjectSize != null && maxObjectSize < ServerOptions.MIN_MAX_OBJECT_SIZE) {
      throw usage("--max-object-size must be at least " + ServerOptions.MIN_MAX_OBJECT_SIZE + " bytes, not '"
          + given("--max-object-size") + "'");
    }
    if ((tlsCert == null) != (tlsKey == null)) {
      throw usage("--tls-cert and --tls-key go together");
    }
    ServerOptions.Builder b = ServerOptions.builder().listen(host, port).idleTimeout(idleTimeout);
    CrossOrigin crossOrigin;
    try {
      crossOrigin = CrossOrigin.of(corsOrigins);
    } catch (IllegalArgumentException e) {
      throw usage("--cors-origin " + e.getMessage());
    }
    if (crossOrigin.allowsAny() && tokens == null) {
      throw usage("--cors-origin '*' needs --tokens: on a development server every request is allowed, so every web"
          + " page opened on this machine could read and change the store; name the origins instead");
    }
    b.crossOrigin(crossOrigin);
    if (publicUrl != null) {
      try {
        b.publicUrl(ServerOptions.checkPublicUrl(publicUrl));
      } catch (IllegalArgumentException e) {
        throw usage("--public-url: " + e.getMessage());
      }
    }
    if (tokens != null) {
      b.tokens(TokenFile.open(tokens));
    }
    if (tlsCert != null) {
      b.tls(tlsCert, tlsKey);
    }
    if (maxObjectSize != null) {
      b.maxObjectSize(maxObjectSize);
    }
    if (minHeldRate != null) {
      if (minHeldRate > MemoryBudget.MAX_MIN_HELD_RATE) {
        throw usage("--min-held-rate must be at most " + MemoryBudget.MAX_MIN_HELD_RATE + " bytes per second (16g),"
            + " not " + minHeldRate);
      }
      b.minHeldRate(minHeldRate);
    }
    PrintWriter err = err();
    BufferedWriter logFile = accessLog == null ? null : Files.newBufferedWriter(accessLog, StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
    b.accessLog(logFile == null ? lines(err) : lines(logFile));
    try (Repository repo = openRepo(); FerryServer server = FerryServer.start(repo, b.build())) {
      if (tokens == null) {
        notices().info("development server: no --tokens, so every request is allowed; listening on loopback only");
      }
      if (json) {
        // one line, printed once listening: a script reads the URL (the port, with --listen HOST:0) as it comes
        out().println(object().put("url", server.uri().toString()).put("store", repo.uri()).toString());
      } else {
        out().println("ferry serve: listening on " + server.uri() + " (store " + repo.uri() + ")");
      }
      out().flush();
      err.flush();
      Thread hook = new Thread(() -> {
        try {
          server.close();
        } catch (IOException e) {
          err.println("ferry serve: " + e.getMessage());
          err.flush();
        }
      }, "ferry-serve-stop");
      Runtime.getRuntime().addShutdownHook(hook);
      server.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      if (logFile != null) {
        logFile.close();
      }
    }
    return 0;
  }

  private static Consumer<String> lines(java.io.Writer w) {
    return line -> {
      synchronized (w) {
        try {
          w.write(line);
          w.write('\n');
          w.flush();
        } catch (IOException e) {
          // the access log is best effort: a full disk must not stop the server
        }
      }
    };
  }
}
