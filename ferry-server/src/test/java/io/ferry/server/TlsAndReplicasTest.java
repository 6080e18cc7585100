package io.ferry.server;

import static io.ferry.server.ServerFixture.get;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** HTTP/2 over TLS with a certificate made at test time, and two servers over one store agreeing on a ref. */
@Timeout(180)
class TlsAndReplicasTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static ServerFixture fx;

  @BeforeAll
  static void start() throws Exception {
    fx = new ServerFixture(tmp);
  }

  @AfterAll
  static void stop() throws Exception {
    fx.close();
  }

  /**
   * A self-signed EC certificate for 127.0.0.1 as PEM cert and PKCS#8 key: made by openssl where it is installed
   * (native, fast), else by the JDK's keytool (a JVM start) and written out as PEM here.
   */
  static Certificate selfSigned(Path dir) throws Exception {
    try {
      Process o = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir.resolve("key.pem").toString(), "-out",
          dir.resolve("cert.pem").toString(), "-days", "2", "-subj", "/CN=localhost", "-addext",
          "subjectAltName=IP:127.0.0.1,DNS:localhost").redirectErrorStream(true).start();
      o.getInputStream().readAllBytes();
      if (o.waitFor(60, TimeUnit.SECONDS) && o.exitValue() == 0
          && Files.readString(dir.resolve("key.pem")).contains("BEGIN PRIVATE KEY")) {
        return CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(
            Files.readAllBytes(dir.resolve("cert.pem"))));
      }
    } catch (java.io.IOException noOpenssl) {
      // keytool below
    }
    Path p12 = dir.resolve("tls.p12");
    String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
    Process p = new ProcessBuilder(keytool, "-genkeypair", "-alias", "t", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=localhost", "-ext", "san=ip:127.0.0.1,dns:localhost", "-validity", "2", "-keystore",
        p12.toString(), "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(Files.newInputStream(p12), "changeit".toCharArray());
    PrivateKey key = (PrivateKey) ks.getKey("t", "changeit".toCharArray());
    Certificate cert = ks.getCertificate("t");
    Base64.Encoder b64 = Base64.getMimeEncoder(64, "\n".getBytes());
    Files.writeString(dir.resolve("cert.pem"), "-----BEGIN CERTIFICATE-----\n" + b64.encodeToString(cert.getEncoded())
        + "\n-----END CERTIFICATE-----\n");
    Files.writeString(dir.resolve("key.pem"), "-----BEGIN PRIVATE KEY-----\n" + b64.encodeToString(key.getEncoded())
        + "\n-----END PRIVATE KEY-----\n");
    return CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(
        Files.readAllBytes(dir.resolve("cert.pem"))));
  }

  @Test
  void http2OverTls() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("tls"));
    Certificate cert = selfSigned(dir);
    URI base = fx.start(ServerOptions.builder().tls(dir.resolve("cert.pem"), dir.resolve("key.pem"))).uri();
    assertThat(base.getScheme()).isEqualTo("https");
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ferry", cert);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext ssl = SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    for (HttpClient.Version version : List.of(HttpClient.Version.HTTP_2, HttpClient.Version.HTTP_1_1)) {
      HttpClient client = HttpClient.newBuilder().sslContext(ssl).version(version).build();
      String v1 = fx.pushed.versionId().hex();
      HttpResponse<byte[]> r = client.send(get(base, "/v1/store/refs/org/tiny/tags/prod").build(),
          HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.version()).isEqualTo(version);
      assertThat(JSON.readTree(r.body()).get("id").asText()).isEqualTo(v1);
      HttpResponse<byte[]> f = client.send(get(base, "/org/tiny/resolve/main/config.json").build(),
          HttpResponse.BodyHandlers.ofByteArray());
      assertThat(new String(f.body())).isEqualTo("{\"model_type\": \"llama\"}");
    }
    // plain HTTP to the TLS port is not served
    HttpClient plain = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    URI http = URI.create("http://127.0.0.1:" + base.getPort() + "/v1/store");
    try {
      HttpResponse<byte[]> r = plain.send(HttpRequest.newBuilder(http).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isGreaterThanOrEqualTo(400);
    } catch (java.io.IOException expected) {
      // refused by the TLS handshake
    }
  }

  @Test
  void h2cWithPriorKnowledge() throws Exception {
    URI base = fx.startDev().uri();
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    // the first request upgrades the connection (h2c), the next ones go over HTTP/2
    for (int i = 0; i < 3; i++) {
      HttpResponse<byte[]> r = client.send(get(base, "/v1/store").build(), HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(200);
      if (i > 0) {
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
      }
    }
  }

  @Test
  void twoServersOverOneStoreAgreeOnARefMovedThroughBoth() throws Exception {
    // the second server has its own repository over the same store, as another process would
    try (Repository other = Ferry.open(fx.dir.resolve("store").toString(), StoreOptions.existing(),
        RepositoryOptions.defaults());
        FerryServer second = FerryServer.start(other, ServerOptions.builder().listen("127.0.0.1", 0).build())) {
      URI a = fx.startDev().uri();
      URI b = second.uri();
      String v1 = fx.pushed.versionId().hex();
      String ref = "/v1/store/refs/org/tiny/tags/race";
      String body = "{\"new\": \"" + v1 + "\", \"who\": \"a\", \"why\": \"t\"}";
      assertThat(fx.send(get(a, ref).header("If-None-Match", "*").PUT(HttpRequest.BodyPublishers.ofString(body)))
          .statusCode()).isEqualTo(201);
      assertThat(JSON.readTree(fx.send(get(b, ref)).body()).get("id").asText()).isEqualTo(v1);

      // 16 writers, half through each server, all expecting v1: exactly one move wins
      List<ChunkId> targets = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        targets.add(fx.repo.objects().writeObject(("{\"n\":" + i + "}").getBytes()).id());
      }
      ExecutorService pool = Executors.newFixedThreadPool(16);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Integer>> results = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        URI server = i % 2 == 0 ? a : b;
        String move = "{\"new\": \"" + targets.get(i) + "\", \"who\": \"w" + i + "\", \"why\": \"race\"}";
        results.add(pool.submit(() -> {
          go.await();
          return fx.send(get(server, ref).header("If-Match", "\"" + v1 + "\"")
              .PUT(HttpRequest.BodyPublishers.ofString(move))).statusCode();
        }));
      }
      go.countDown();
      int won = 0;
      int lost = 0;
      for (Future<Integer> f : results) {
        int s = f.get(60, TimeUnit.SECONDS);
        won += s == 200 ? 1 : 0;
        lost += s == 412 ? 1 : 0;
      }
      pool.shutdownNow();
      assertThat(won).isEqualTo(1);
      assertThat(lost).isEqualTo(15);
      String winner = JSON.readTree(fx.send(get(a, ref)).body()).get("id").asText();
      assertThat(JSON.readTree(fx.send(get(b, ref)).body()).get("id").asText()).isEqualTo(winner);
      assertThat(JSON.readTree(fx.send(get(b, ref + "?log=1")).body()).get("entries")).hasSize(2);
    }
  }
}
