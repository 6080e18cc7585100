package io.ferry.store.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.id.ChunkId;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.StoreOptions;
import io.ferry.testkit.FreePort;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** The S3 backend beyond the contracts: URIs, settings, opening rules, layout, and lost responses of conditional puts. */
class S3BackendTest {
  private static ChunkId id(String s) {
    return ChunkId.of(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void urisAndSettingsAreParsedAndCheckedWithClearMessages() throws Exception {
    assertThat(S3Location.parse(URI.create("s3://bucket"))).isEqualTo(new S3Location("bucket", ""));
    S3Location l = S3Location.parse(URI.create("s3://my.bucket/team/models/"));
    assertThat(l.keyPrefix()).isEqualTo("team/models/");
    assertThat(l.uri()).isEqualTo("s3://my.bucket/team/models");
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3:///x"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("names no bucket");
    // core's option of the query (the layers over the store), which README gives as the way to name them in a URI
    assertThat(S3Location.parse(URI.create("s3://bucket/p?layers=redis"))).isEqualTo(S3Location.parse(
        URI.create("s3://bucket/p")));
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://bucket/p?layers=redis&region=x")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("'region'");
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://Bad_Bucket!/x")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("not valid");
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://bkt/a//c"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("empty path segment");
    // names no bucket can have: the endpoint answered only that the bucket does not exist
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://ab/x"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("bucket name 'ab' is 2 characters long; S3 bucket names are 3 to 63 characters");
    String b64 = "b".repeat(64);
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://" + b64 + "/x")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("is 64 characters long");
    assertThat(S3Location.parse(URI.create("s3://" + b64.substring(1))).bucket()).hasSize(63);
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://bucket-/x"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("bucket name 'bucket-' ends with '-'");
    // '.' and '..' segments: requests resolved them (the store of s3://bkt/x/../a was 'a') but listings did not
    for (String uri : List.of("s3://bkt/../x", "s3://bkt/x/../a", "s3://bkt/./c", "s3://bkt/a/..", "s3://bkt/a/./")) {
      assertThatThrownBy(() -> S3Location.parse(URI.create(uri))).as(uri).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining(uri).hasMessageContaining("path segment");
    }
    assertThat(S3Location.parse(URI.create("s3://bkt/a..b/.c/d.")).prefix()).isEqualTo("a..b/.c/d.");
    // a prefix that leaves the store's own keys no room within S3's 1,024 bytes (a 500 internal error from the
    // endpoint before), counted in UTF-8 bytes
    String longest = "p".repeat(S3Location.MAX_PREFIX_BYTES);
    assertThat(S3Location.parse(URI.create("s3://bkt/" + longest)).prefix()).isEqualTo(longest);
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://bkt/" + longest + "q")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("its prefix is " + (longest.length() + 1)
            + " bytes long, more than " + S3Location.MAX_PREFIX_BYTES);
    String wide = "\u00e9".repeat(S3Location.MAX_PREFIX_BYTES / 2 + 1);
    assertThatThrownBy(() -> S3Location.parse(new URI("s3", "bkt", "/" + wide, null)))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("bytes long");

    S3Settings none = S3Settings.from(Map.of(), n -> null);
    assertThat(none.endpoint()).isNull();
    assertThat(none.pathStyle()).isFalse();
    S3Settings env = S3Settings.from(Map.of(), n -> n.equals("FERRY_S3_ENDPOINT") ? "http://127.0.0.1:9000" : null);
    assertThat(env.endpoint()).isEqualTo(URI.create("http://127.0.0.1:9000"));
    assertThat(env.pathStyle()).as("path style by default with an endpoint").isTrue();
    S3Settings set = S3Settings.from(Map.of("s3.endpoint", "https://s3.example.org", "s3.path-style", "false",
        "s3.max-attempts", "3", "other.key", "ignored"), n -> "http://from-env:1");
    assertThat(set.endpoint()).as("the setting wins over the environment").isEqualTo(URI.create("https://s3.example.org"));
    assertThat(set.pathStyle()).isFalse();
    assertThat(set.maxAttempts()).isEqualTo(3);
    assertThatThrownBy(() -> S3Settings.from(Map.of("s3.endpoint", "ftp://x"), n -> null))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("ftp://x");
    // a port out of range: the SDK's message named neither the endpoint nor the setting
    for (String port : List.of("0", "65536", "99999")) {
      assertThatThrownBy(() -> S3Settings.from(Map.of("s3.endpoint", "http://127.0.0.1:" + port), n -> null))
          .as(port).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("S3 endpoint 'http://127.0.0.1:" + port + "': port " + port + " is not a port");
    }
    assertThat(S3Settings.from(Map.of("s3.endpoint", "http://127.0.0.1:65535"), n -> null).endpoint().getPort())
        .isEqualTo(65535);
    assertThatThrownBy(() -> S3Settings.from(Map.of("s3.max-attempts", "many"), n -> null))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("s3.max-attempts");
    // a whole number too large for the setting was said not to be a whole number
    assertThatThrownBy(() -> S3Settings.from(Map.of("s3.backoff-ms", "99999999999999"), n -> null))
        .isInstanceOf(InvalidInputException.class)
        .hasMessage("s3.backoff-ms is '99999999999999'; expected a whole number from 1 to 2147483647");
    // a part size is written as the cache's and the server's sizes are (it took only a plain number of bytes)
    assertThat(S3Settings.from(Map.of("s3.part-size", "8m"), n -> null).partSize()).isEqualTo(8 << 20);
    assertThat(S3Settings.from(Map.of("s3.part-size", "256KiB"), n -> null).partSize()).isEqualTo(256 << 10);
    assertThat(S3Settings.from(Map.of("s3.part-size", "1048576"), n -> null).partSize()).isEqualTo(1 << 20);
    for (String bad : List.of("32k", "2g", "8 m", "lots")) {
      assertThatThrownBy(() -> S3Settings.from(Map.of("s3.part-size", bad), n -> null)).as(bad)
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("s3.part-size is '" + bad + "'");
    }
    // an empty value was taken as no setting: s3.region= signed for the SDK's region without a word
    for (String key : List.of("s3.region", "s3.endpoint", "s3.part-size", "s3.path-style")) {
      for (String blank : List.of("", " ")) {
        assertThatThrownBy(() -> S3Settings.from(Map.of(key, blank), n -> "http://from-env:1")).as(key)
            .isInstanceOf(InvalidInputException.class)
            .hasMessage(key + " is empty (an unset shell variable?): give a value, or leave the setting out for its"
                + " default");
      }
    }
    assertThat(S3Settings.from(Map.of("s3.region", " eu-west-1 "), n -> null).region()).isEqualTo("eu-west-1");
    assertThatThrownBy(() -> S3Settings.from(Map.of("s3.endpiont", "http://127.0.0.1:9000"), n -> null))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("unknown S3 setting 's3.endpiont'; did you mean 's3.endpoint'?");
  }

  /**
   * Bucket names that are no host names ('a_b', a legacy name; 'a-.b') crashed every command with
   * IllegalStateException ("makes no URI") when the store printed its URI; names no bucket can have (two adjacent
   * periods, an IP address) crashed the same way or were answered "does not exist". The first are now printed as
   * written, the others refused naming the rule.
   */
  @Test
  void bucketNamesThatAreNoHostNamesArePrintedAndImpossibleOnesRefused() throws Exception {
    for (String bucket : List.of("abc_def", "a-.b", "a.-b", "ab-c.d_e")) {
      S3Location l = S3Location.parse(URI.create("s3://" + bucket + "/x%20y"));
      assertThat(l.uri()).isEqualTo("s3://" + bucket + "/x%20y");
      assertThat(l.describeKey("x y/objects/a")).isEqualTo("s3://" + bucket + "/x%20y/objects/a");
      assertThat(S3Location.parse(URI.create(l.uri()))).isEqualTo(l);
    }
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://a..b/x"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("bucket name 'a..b' has two adjacent periods");
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://192.168.1.1/x")))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("bucket name '192.168.1.1' is an IP address");
    assertThat(S3Location.parse(URI.create("s3://192.168.1.1a/x")).bucket()).isEqualTo("192.168.1.1a");
  }

  /**
   * A prefix with a control character (listed by S3 in XML, which cannot carry it: every command failed after ten
   * attempts with "Could not parse XML response", and init printed the raw character) or with %-escapes that are not
   * UTF-8 (the decoder put U+FFFD in their place: the store lived under another prefix than the one written) is
   * refused when the URI is read, naming it.
   */
  @Test
  void aPrefixWithControlCharactersOrEscapesThatAreNotUtf8IsRefused() throws Exception {
    for (String uri : List.of("s3://bkt/c1%01x", "s3://bkt/a/new%0Aline", "s3://bkt/cr%0D", "s3://bkt/del%7F",
        "s3://bkt/c1%C2%85")) {
      assertThatThrownBy(() -> S3Location.parse(URI.create(uri))).as(uri).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining(uri).hasMessageContaining("prefix has the control character U+");
    }
    assertThatThrownBy(() -> S3Location.parse(URI.create("s3://bkt/x%FFy"))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("prefix 'x%FFy' is not valid UTF-8");
    assertThat(S3Location.parse(URI.create("s3://bkt/%C3%BCn%EF%BF%BD/t~x'y;z%25")).prefix())
        .as("UTF-8, a U+FFFD written as such, and other printable characters").isEqualTo("\u00fcn\ufffd/t~x'y;z%");
  }

  /**
   * The URI a store prints (messages, suggested commands, {@code init --json}) names the same store when given back.
   * It was the decoded prefix: {@code s3://bkt/pct%2541} printed {@code s3://bkt/pct%41}, which is the store at
   * {@code pctA}; {@code q%3Fr} printed {@code s3://bkt/q?r}, which is refused.
   */
  @Test
  void theUriOfAStoreNamesItAgain() throws Exception {
    for (String raw : List.of("plain/p-1_x.y~", "pct%2541", "q%3Fr%23s", "sp%20ace", "a+b&c=d;e'f(g)*$!,:@",
        "%C3%A9t%C3%A9/%E6%97%A5", "br%5Bac%5Dk%7Bs%7D%7C%5C%5E%60%22%3C%3E")) {
      S3Location l = S3Location.parse(URI.create("s3://bkt/" + raw));
      assertThat(S3Location.parse(URI.create(l.uri()))).as("%s -> %s", raw, l.uri()).isEqualTo(l);
    }
    assertThat(S3Location.parse(URI.create("s3://bkt/pct%2541")).uri()).isEqualTo("s3://bkt/pct%2541");
    assertThat(S3Location.parse(URI.create("s3://bkt/x/y")).uri()).isEqualTo("s3://bkt/x/y");
    assertThat(S3Location.parse(URI.create("s3://bkt")).uri()).isEqualTo("s3://bkt");
  }

  /**
   * A prefix with a bidirectional override (U+202E) or another invisible format character was printed as it is, in
   * the store's URI and in every message naming one of its keys, where it reordered the text after it.
   */
  @Test
  void invisibleFormatCharactersOfAPrefixArePrintedEscaped() throws Exception {
    S3Location l = S3Location.parse(URI.create("s3://bkt/a%E2%80%AEfdp.exe/z%E2%80%8Bw"));
    assertThat(l.prefix()).isEqualTo("a\u202efdp.exe/z\u200bw");
    assertThat(l.uri()).isEqualTo("s3://bkt/a%E2%80%AEfdp.exe/z%E2%80%8Bw");
    assertThat(S3Location.parse(URI.create(l.uri()))).isEqualTo(l);
    assertThat(l.describeKey(l.key("objects/ab"))).isEqualTo("s3://bkt/a%E2%80%AEfdp.exe/z%E2%80%8Bw/objects/ab");
  }

  @Test
  void openingNeedsAStoreOrCreateAndRefusesForeignPrefixes() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("open");
    assertThatThrownBy(() -> S3Backend.open(uri, s3.options(false), n -> null))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("no Ferry store at " + uri);
    try (Backend b = S3Backend.open(uri, s3.options(true), n -> null)) {
      assertThat(b.uri()).isEqualTo(uri.toString());
      assertThat(b.chunks().describe()).contains(uri.toString()).contains(s3.endpoint().toString());
    }
    try (Backend b = S3Backend.open(uri, s3.options(false), n -> null)) {
      assertThat(b.refs().list("")).isEmpty();
    }
    URI foreign = LocalS3.freshStoreUri("foreign");
    try (S3Client raw = s3.client()) {
      raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(foreign.getPath().substring(1) + "/notes.txt"),
          RequestBody.fromString("mine"));
    }
    assertThatThrownBy(() -> S3Backend.open(foreign, s3.options(true), n -> null))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("not a Ferry store");
    // the largest number of attempts costs nothing until it is used (a retry strategy for each count was built)
    try (Backend b = S3Backend.open(uri, new StoreOptions(false, s3.settings(Map.of("s3.max-attempts",
        Integer.toString(Integer.MAX_VALUE)))), n -> null)) {
      assertThat(b.refs().list("")).isEmpty();
    }
    assertThatThrownBy(() -> S3Backend.open(URI.create("s3://no-such-bucket/x"), s3.options(true), n -> null))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("bucket 'no-such-bucket' does not exist");
  }

  @Test
  void anEndpointThatRefusesOrNeverAnswersFailsTheOpeningWithinAFewAttempts() throws Exception {
    Map<String, String> fast = Map.of("s3.socket-timeout-ms", "1000", "s3.backoff-ms", "5");
    URI uri = URI.create("s3://bkt/silent");
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread holder = new Thread(() -> {
        List<Socket> held = new ArrayList<>();
        try {
          while (true) {
            held.add(silent.accept());
          }
        } catch (IOException closed) {
          held.forEach(s -> {
            try {
              s.close();
            } catch (IOException ignored) {
              // closing a socket the test held open
            }
          });
        }
      });
      holder.start();
      Map<String, String> settings = new HashMap<>(fast);
      settings.put("s3.endpoint", "http://127.0.0.1:" + silent.getLocalPort());
      long start = System.nanoTime();
      assertThatThrownBy(() -> S3Backend.open(uri, new StoreOptions(false, settings), n -> null).close())
          .hasMessageContaining("endpoint http://127.0.0.1:" + silent.getLocalPort())
          .hasMessageContaining("s3://bkt/silent/ferry-store.json")
          .hasMessageContaining("up to " + S3Backend.FIRST_CONTACT_ATTEMPTS + " attempts")
          .hasMessageContaining("Read timed out");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).as("three attempts of a second each, not ten")
          .isLessThan(Duration.ofSeconds(8));
    }
    Map<String, String> settings = new HashMap<>(fast);
    settings.put("s3.endpoint", "http://127.0.0.1:" + FreePort.pick());
    assertThatThrownBy(() -> S3Backend.open(uri, new StoreOptions(false, settings), n -> null).close())
        .hasMessageContaining("up to " + S3Backend.FIRST_CONTACT_ATTEMPTS + " attempts")
        .hasMessageContaining("Connection refused");
  }

  @Test
  void providerIsFoundByServiceLoaderAndUsesTheEndpointFromSettings() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    BackendProvider found = null;
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
      if (p.supports("s3")) {
        found = p;
      }
    }
    assertThat(found).isInstanceOf(S3BackendProvider.class);
    URI uri = LocalS3.freshStoreUri("provider");
    try (Backend b = found.open(uri, s3.options(true))) {
      byte[] c = "hello".getBytes(StandardCharsets.UTF_8);
      assertThat(b.chunks().put(ChunkId.of(c), ByteBuffer.wrap(c))).isTrue();
    }
    try (S3Client raw = s3.client()) {
      String p = uri.getPath().substring(1);
      assertThat(raw.listObjectsV2(r -> r.bucket(LocalS3.BUCKET).prefix(p + "/")).contents())
          .extracting(o -> o.key().substring(p.length() + 1))
          .containsExactlyInAnyOrder("ferry-store.json", "objects/" + ChunkId.of("hello".getBytes()).hex());
    }
  }

  @Test
  void aMoveWhoseResponseWasLostStillSucceedsOnceAndIsLoggedOnce() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("lost");
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      AtomicBoolean dropped = new AtomicBoolean();
      proxy.policy((method, target, n) -> method.equals("PUT") && target.contains("/log/")
          && dropped.compareAndSet(false, true) ? FaultyHttpProxy.Fault.FORWARD_THEN_DROP : FaultyHttpProxy.Fault.NONE);
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        ChunkId a = id("a");
        CasResult r = b.refs().compareAndSet("llama/head", null, a,
            new RefLogEntry(null, a, "test", Instant.now(), "first"));
        assertThat(dropped).as("the response of the entry's put was dropped").isTrue();
        assertThat(r).isEqualTo(CasResult.NEW);
        assertThat(b.refs().get("llama/head")).contains(a);
        assertThat(b.refs().log("llama/head")).hasSize(1);
        assertThat(b.refs().compareAndSet("llama/head", null, id("b"),
            new RefLogEntry(null, id("b"), "other", Instant.now(), "late"))).isEqualTo(CasResult.LOCK_FAILURE);
      }
    }
  }

  /**
   * Two gcs deleting one object at once: both HEADs find it, and S3 carries out only the first conditional delete,
   * answering the other 404 NoSuchKey (here the proxy answers so). The loser says it removed nothing; a plain delete
   * answered true to both.
   */
  @Test
  void aConditionalDeleteThatFindsTheObjectGoneSaysSo() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("lost-delete");
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        ChunkId a = id("a");
        b.chunks().put(a, ByteBuffer.wrap("a".getBytes(StandardCharsets.UTF_8)));
        proxy.policy((method, target, n) -> method.equals("DELETE") ? FaultyHttpProxy.Fault.NO_SUCH_KEY
            : FaultyHttpProxy.Fault.NONE);
        assertThat(b.chunks().deleteIfPresent(a)).isFalse();
        assertThat(proxy.dealt(FaultyHttpProxy.Fault.NO_SUCH_KEY)).isOne();
      }
    }
  }

  /**
   * An endpoint that does not implement conditional deletes (S3Proxy over some blob stores answers 501; some
   * S3-compatible stores refuse the header with 400) still gets its objects deleted by gc: the store falls back to
   * plain deletes, which cannot tell whether the object existed.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.EnumSource(value = FaultyHttpProxy.Fault.class,
      names = {"ERROR_501", "INVALID_ARGUMENT"})
  void anEndpointWithoutConditionalDeletesGetsPlainDeletes(FaultyHttpProxy.Fault refusal) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("plain-delete-" + refusal.name().toLowerCase(java.util.Locale.ROOT));
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      AtomicBoolean refused = new AtomicBoolean();
      proxy.policy((method, target, n) -> method.equals("DELETE") && refused.compareAndSet(false, true)
          ? refusal : FaultyHttpProxy.Fault.NONE);
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        ChunkId a = id("a");
        ChunkId c = id("c");
        b.chunks().put(a, ByteBuffer.wrap("a".getBytes(StandardCharsets.UTF_8)));
        b.chunks().put(c, ByteBuffer.wrap("c".getBytes(StandardCharsets.UTF_8)));
        assertThat(b.chunks().deleteIfPresent(a)).isTrue();
        assertThat(proxy.dealt(refusal)).as("the conditional delete was refused").isOne();
        assertThat(b.chunks().contains(a)).as("and the object deleted all the same").isFalse();
        assertThat(b.chunks().deleteIfPresent(c)).isTrue();
        assertThat(b.chunks().contains(c)).isFalse();
      }
    }
  }

  /**
   * A bucket deleted while a store in it is open: every request names the bucket as the defect. A read answered
   * "object missing" (as if the store had lost it, which sends users to repair it), and a delete (gc, the removal of
   * leases) succeeded without a word. A HEAD, whose answer has no body to tell a missing bucket from a missing key,
   * said the object was absent: push went on to its first PUT, and gc deleted nothing and failed only at its lease.
   */
  @Test
  void aBucketDeletedWhileTheStoreIsOpenIsNamedByEveryRequest() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    String bucket = "ferry-vanishing";
    try (S3Client raw = s3.client()) {
      raw.createBucket(r -> r.bucket(bucket));
      byte[] c = "in a bucket that goes away".getBytes(StandardCharsets.UTF_8);
      ChunkId id = ChunkId.of(c);
      try (Backend b = S3Backend.open(URI.create("s3://" + bucket + "/m"), s3.options(true), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(c));
        b.records().create("leases/x", new byte[] {1});
        raw.listObjectsV2Paginator(r -> r.bucket(bucket)).contents()
            .forEach(o -> raw.deleteObject(r -> r.bucket(bucket).key(o.key())));
        raw.deleteBucket(r -> r.bucket(bucket));
        String named = "bucket '" + bucket + "' does not exist at endpoint " + s3.endpoint();
        List<org.assertj.core.api.ThrowableAssert.ThrowingCallable> calls = List.of(
            () -> b.chunks().get(id), () -> b.chunks().read(id, 0, c.length), () -> b.chunks().delete(id),
            () -> b.chunks().put(id, ByteBuffer.wrap(c)),
            () -> b.chunks().list(o -> { }), () -> b.records().delete("leases/x"), () -> b.records().list("leases/"),
            () -> b.records().read("leases/x"), () -> b.records().create("leases/y", new byte[] {1}),
            () -> b.chunks().contains(id), () -> b.chunks().missing(List.of(id, ChunkId.of(new byte[1]))),
            () -> b.chunks().size(id), () -> b.chunks().deleteIfPresent(id));
        for (int i = 0; i < calls.size(); i++) {
          assertThatThrownBy(calls.get(i)).as("call %d", i).isInstanceOf(InvalidInputException.class)
              .hasMessageContaining(named);
        }
      }
    }
  }

  /**
   * Credentials that lack a permission: every request answered 403 says it was denied, what S3 said, and what to
   * check. The error read "failed (up to 10 attempts): Forbidden (Service: S3, Status Code: 403 ...)", though the
   * SDK had not retried, and for a HEAD (whose answer has no body) gave no hint that without s3:ListBucket this is
   * how S3 answers a HEAD of an object that does not exist.
   */
  @Test
  void aDeniedRequestSaysSoAndWhatToCheck() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("denied");
    byte[] c = "guarded".getBytes(StandardCharsets.UTF_8);
    ChunkId id = ChunkId.of(c);
    try (Backend b = S3Backend.open(uri, s3.options(true), n -> null)) {
      b.chunks().put(id, ByteBuffer.wrap(c));
    }
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        proxy.policy((method, target, n) -> target.contains("/objects/") ? FaultyHttpProxy.Fault.ACCESS_DENIED
            : FaultyHttpProxy.Fault.NONE);
        String key = uri + "/objects/" + id.hex();
        assertThatThrownBy(() -> b.chunks().contains(id)).isInstanceOf(InvalidInputException.class)
            .hasMessageContaining("HEAD " + key + " at endpoint " + proxy.endpoint() + " was denied (403")
            .hasMessageContaining("s3:ListBucket").hasMessageNotContaining("null");
        assertThatThrownBy(() -> b.chunks().get(id)).isInstanceOf(InvalidInputException.class)
            .hasMessageContaining(key)
            .hasMessageContaining("was denied (403, AccessDenied: injected by the test proxy)");
        assertThatThrownBy(() -> b.chunks().put(ChunkId.of(new byte[1]), ByteBuffer.wrap(new byte[1])))
            .isInstanceOf(InvalidInputException.class).hasMessageContaining("was denied (403, AccessDenied");
      }
    }
  }

  /**
   * An endpoint whose listing page says more keys follow but gives no continuation token, or the token that asked
   * for that page, or one of an earlier page (a cycle of several pages), fails the listing. The loop ended at such
   * a page, so gc worked from a short list of push leases (and could delete what they protect), or it asked for the
   * same pages forever.
   */
  @Test
  @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void aListingThatSaysMoreFollowButCannotGoOnFails() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("paging");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        b.chunks().put(id("a"), ByteBuffer.wrap("a".getBytes(StandardCharsets.UTF_8)));
        b.records().create("leases/x", new byte[] {1});
        for (FaultyHttpProxy.Fault f : List.of(FaultyHttpProxy.Fault.LISTING_WITHOUT_TOKEN,
            FaultyHttpProxy.Fault.LISTING_SAME_TOKEN, FaultyHttpProxy.Fault.LISTING_TOKEN_CYCLE)) {
          proxy.policy((method, target, n) -> method.equals("GET") && target.contains("list-type=2") ? f
              : FaultyHttpProxy.Fault.NONE);
          // a cycle's second page lists the first page's keys again (this endpoint ignores the token), which fails
          // the listing there, before the cycle shows in the tokens (an empty listing below shows it)
          String why = switch (f) {
            case LISTING_WITHOUT_TOKEN -> "says more follow but gives no continuation token";
            case LISTING_SAME_TOKEN -> "says more follow but gives the continuation token that asked for it";
            default -> " twice; S3 lists each key once";
          };
          assertThatThrownBy(() -> b.chunks().list(o -> { })).as("%s", f).isInstanceOf(IOException.class)
              .hasMessageContaining("LIST " + uri + "/objects/ at endpoint " + proxy.endpoint())
              .hasMessageContaining(why);
          assertThatThrownBy(() -> b.records().list("leases/")).as("%s", f).isInstanceOf(IOException.class)
              .hasMessageContaining("LIST " + uri + "/leases/").hasMessageContaining(why);
        }
        // keys or not, the tokens of a cycle end the listing
        assertThatThrownBy(() -> b.records().list("nothing/")).isInstanceOf(IOException.class)
            .hasMessageContaining("LIST " + uri + "/nothing/")
            .hasMessageContaining("gives the continuation token of an earlier page (3 pages into the listing)");
      }
    }
  }

  /**
   * A body trickled a byte at a time, each wait shorter than the socket timeout: no timeout ever fired, and a read of
   * 200 KiB at a byte per 50 ms would have taken three hours. Each attempt now ends when the body falls behind
   * {@code s3.min-rate} (its default, 64 KiB/s, plus one socket timeout: 4 s here), and the read fails naming the
   * object, the store and the rate.
   */
  @Test
  @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void aBodyTrickledSlowerThanTheMinimumRateFailsTheRead() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("trickle");
    byte[] content = new byte[200 * 1024];
    new java.util.Random(5).nextBytes(content);
    ChunkId id = ChunkId.of(content);
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.max-attempts", "2", "s3.socket-timeout-ms", "1000");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(content));
        proxy.delayMillis(50);
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("/objects/")
            ? FaultyHttpProxy.Fault.TRICKLE_BODY : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().read(id, 0, content.length)).isInstanceOf(IOException.class)
            .hasMessageContaining(id.hex()).hasMessageContaining("slower than s3.min-rate (65536 bytes/s)");
        proxy.policy((method, target, n) -> FaultyHttpProxy.Fault.NONE);
        ByteBuffer again = b.chunks().read(id, 0, content.length);
        byte[] got = new byte[again.remaining()];
        again.get(got);
        assertThat(got).isEqualTo(content);
      }
    }
  }

  /**
   * An endpoint that lists a key twice (repeating part of a page): gc's dry run and {@code stats} counted the object
   * twice, and a record listing named a lease twice. S3 lists each key once in ascending order, so a key not after
   * the one before fails the listing, naming it.
   */
  @Test
  void aListingThatRepeatsAKeyFails() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("repeats");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        ChunkId a = id("a");
        b.chunks().put(a, ByteBuffer.wrap("a".getBytes(StandardCharsets.UTF_8)));
        b.chunks().put(id("b"), ByteBuffer.wrap("b".getBytes(StandardCharsets.UTF_8)));
        b.records().create("leases/x", new byte[] {1});
        List<ChunkId> listed = new java.util.ArrayList<>();
        b.chunks().list(o -> listed.add(o.id()));
        assertThat(listed).hasSize(2);
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("list-type=2")
            ? FaultyHttpProxy.Fault.LISTING_REPEATED_KEY : FaultyHttpProxy.Fault.NONE);
        String first = listed.stream().map(ChunkId::hex).sorted().findFirst().orElseThrow();
        assertThatThrownBy(() -> b.chunks().list(o -> { })).isInstanceOf(IOException.class)
            .hasMessageContaining("LIST " + uri + "/objects/ at endpoint " + proxy.endpoint())
            .hasMessageContaining(first + " twice");
        assertThatThrownBy(() -> b.chunks().listIds(a.hex(), x -> { }))
            .isInstanceOf(IOException.class).hasMessageContaining(a.hex() + " twice");
        assertThatThrownBy(() -> b.records().list("leases/")).isInstanceOf(IOException.class)
            .hasMessageContaining("LIST " + uri + "/leases/").hasMessageContaining("leases/x twice");
      }
    }
  }

  /**
   * An object put again with other bytes while a read of several parts ran (a gc deleted it and a push stored the
   * same chunk id in another frame): the read gave the first part of one object and the rest of the other. The parts'
   * ETags now show it, and the read is made again.
   */
  @Test
  void aGetWhoseObjectIsReplacedMidwayIsMadeAgainWhole() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("replaced");
    byte[] before = new byte[200 * 1024];
    byte[] after = new byte[200 * 1024];
    java.util.Arrays.fill(before, (byte) 1);
    java.util.Arrays.fill(after, (byte) 2);
    ChunkId id = ChunkId.of(before);
    String key = uri.getPath().substring(1) + "/objects/" + id.hex();
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint()); S3Client raw = s3.client()) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.part-size", "64k");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(before));
        java.util.concurrent.atomic.AtomicInteger gets = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.CountDownLatch replaced = new java.util.concurrent.CountDownLatch(1);
        proxy.policy((method, target, n) -> {
          int k = method.equals("GET") && target.contains("/objects/") ? gets.incrementAndGet() : 0;
          if (k == 2) {
            // after the first part, before any other
            raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(key), RequestBody.fromBytes(after));
            replaced.countDown();
          } else if (k > 2) {
            awaitChange(replaced);
          }
          return FaultyHttpProxy.Fault.NONE;
        });
        ByteBuffer got = b.chunks().get(id);
        byte[] bytes = new byte[got.remaining()];
        got.get(bytes);
        assertThat(java.util.Arrays.equals(bytes, after)).as("one object's bytes, not a mix: first byte %s, last %s",
            bytes[0], bytes[bytes.length - 1]).isTrue();
      }
    }
  }

  /**
   * The same on an endpoint that sends no ETag: the parts of the two objects, of one size, both had none, and the read
   * gave a mix of them. Their Last-Modified now shows the change, when the object was put again in another second.
   */
  @Test
  void aGetWhoseObjectIsReplacedMidwayIsMadeAgainWholeWithoutETags() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("replaced-no-etag");
    byte[] before = new byte[200 * 1024];
    byte[] after = new byte[200 * 1024];
    java.util.Arrays.fill(before, (byte) 1);
    java.util.Arrays.fill(after, (byte) 2);
    ChunkId id = ChunkId.of(before);
    String key = uri.getPath().substring(1) + "/objects/" + id.hex();
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint()); S3Client raw = s3.client()) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.part-size", "64k");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(before));
        java.time.Instant put = raw.headObject(r -> r.bucket(LocalS3.BUCKET).key(key)).lastModified();
        java.util.concurrent.atomic.AtomicInteger gets = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.CountDownLatch replaced = new java.util.concurrent.CountDownLatch(1);
        proxy.policy((method, target, n) -> {
          int k = method.equals("GET") && target.contains("/objects/") ? gets.incrementAndGet() : 0;
          if (k == 2) {
            // after the first part, before any other, and in a later second than the first put
            java.time.Instant deadline = java.time.Instant.now().plusSeconds(5);
            while (!java.time.Instant.now().isAfter(put.plusSeconds(1)) && java.time.Instant.now().isBefore(deadline)) {
              java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L);
            }
            raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(key), RequestBody.fromBytes(after));
            replaced.countDown();
          } else if (k > 2) {
            awaitChange(replaced);
          }
          return FaultyHttpProxy.Fault.NO_ETAG;
        });
        ByteBuffer got = b.chunks().get(id);
        byte[] bytes = new byte[got.remaining()];
        got.get(bytes);
        assertThat(proxy.dealt(FaultyHttpProxy.Fault.NO_ETAG)).isPositive();
        assertThat(java.util.Arrays.equals(bytes, after)).as("one object's bytes, not a mix: first byte %s, last %s",
            bytes[0], bytes[bytes.length - 1]).isTrue();
      }
    }
  }

  /**
   * Holds a GET of the tests above until the object was changed: S3Proxy answered 400 Bad Request, now and then, to a
   * GET of a key that a put or delete of the same key ran beside, and the read failed on that answer.
   */
  private static void awaitChange(java.util.concurrent.CountDownLatch changed) {
    try {
      if (!changed.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
        throw new IllegalStateException("the object was not changed within 30 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * An object replaced by a shorter one, or deleted and put again, while a read of several parts ran: a later part
   * ran past the new end, or found no object, and the read failed "runs past the end of the object" or "missing"
   * before the parts' sizes could show that the object had changed. It is now made again, whole.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void aGetWhoseObjectShrinksOrIsDeletedMidwayIsMadeAgainWhole(boolean deleteFirst) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("shrunk");
    byte[] before = new byte[200 * 1024];
    byte[] after = new byte[70 * 1024];
    java.util.Arrays.fill(before, (byte) 1);
    java.util.Arrays.fill(after, (byte) 2);
    ChunkId id = ChunkId.of(before);
    String key = uri.getPath().substring(1) + "/objects/" + id.hex();
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint()); S3Client raw = s3.client()) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.part-size", "64k");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(before));
        java.util.concurrent.atomic.AtomicInteger gets = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
        proxy.policy((method, target, n) -> {
          if (method.equals("GET") && target.contains("/objects/")) {
            int k = gets.incrementAndGet();
            // deleted while the first round's last part is fetched (the second GET), put again just before the
            // second round
            if (deleteFirst && k == 2) {
              raw.deleteObject(r -> r.bucket(LocalS3.BUCKET).key(key));
            } else if (k == (deleteFirst ? 3 : 2)) {
              raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(key), RequestBody.fromBytes(after));
            } else if (k > 2) {
              awaitChange(changed);
            }
            if (k == 2) {
              changed.countDown();
            }
          }
          return FaultyHttpProxy.Fault.NONE;
        });
        ByteBuffer got = b.chunks().get(id);
        byte[] bytes = new byte[got.remaining()];
        got.get(bytes);
        assertThat(java.util.Arrays.equals(bytes, after)).as("the new object's bytes: %s bytes", bytes.length)
            .isTrue();
      }
    }
  }

  /**
   * A part whose requests are answered 503 and whose body, once one comes, breaks off: the SDK retried the 503s up to
   * {@code s3.max-attempts} times within each of the store's up to {@code s3.max-attempts} fetches of the body, so one
   * part cost up to max-attempts squared requests (9 for 3), where the documentation says max-attempts. Both kinds of
   * failure now draw on one budget: after a body that broke off, the SDK may retry only what is left of it.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void aPartCostsAtMostMaxAttemptsRequests(boolean brokenBodyFirst) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("budget-" + brokenBodyFirst);
    byte[] c = new byte[4096];
    java.util.Arrays.fill(c, (byte) 7);
    ChunkId id = ChunkId.of(c);
    try (Backend b = S3Backend.open(uri, s3.options(true), n -> null)) {
      b.chunks().put(id, ByteBuffer.wrap(c));
    }
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "1",
          "s3.max-attempts", "3");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        java.util.concurrent.atomic.AtomicInteger gets = new java.util.concurrent.atomic.AtomicInteger();
        proxy.policy((method, target, n) -> {
          if (!method.equals("GET") || !target.contains("/objects/")) {
            return FaultyHttpProxy.Fault.NONE;
          }
          int k = gets.incrementAndGet();
          return (brokenBodyFirst ? k == 1 : k % 3 == 0) ? FaultyHttpProxy.Fault.TRUNCATE_BODY
              : FaultyHttpProxy.Fault.ERROR_503;
        });
        assertThatThrownBy(() -> b.chunks().get(id)).isInstanceOf(IOException.class)
            .hasMessageContaining("objects/" + id.hex()).hasMessageContaining("up to 3 attempts");
        assertThat(gets).as("requests for one part").hasValue(3);
      }
    }
  }

  /**
   * An endpoint that lists a key outside the prefix asked for (one that ignores the prefix parameter, or a hostile
   * one): the listing of objects and of records failed with StringIndexOutOfBoundsException on a short key, and a
   * long one was read as a key of this store. The listing now fails, naming the key, the prefix and the endpoint;
   * so does one that lists a key without its size or time.
   */
  @Test
  void aListingWithAKeyOutsideItsPrefixFails() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("foreign");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        b.chunks().put(id("a"), ByteBuffer.wrap("a".getBytes(StandardCharsets.UTF_8)));
        b.records().create("leases/x", new byte[] {1});
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("list-type=2")
            ? FaultyHttpProxy.Fault.LISTING_FOREIGN_KEY : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().list(o -> { })).isInstanceOf(IOException.class)
            .hasMessageContaining("LIST " + uri + "/objects/ at endpoint " + proxy.endpoint())
            .hasMessageContaining("the key s3://ferry/e, outside the prefix");
        for (String prefix : List.of("leases/", "")) {
          assertThatThrownBy(() -> b.records().list(prefix)).as(prefix).isInstanceOf(IOException.class)
              .hasMessageContaining("LIST " + uri + "/" + prefix).hasMessageContaining("the key s3://ferry/e");
        }
        // a common prefix that is the prefix asked for itself: StringIndexOutOfBoundsException
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("list-type=2")
            ? FaultyHttpProxy.Fault.LISTING_PREFIX_AS_COMMON_PREFIX : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.records().list("")).isInstanceOf(IOException.class)
            .hasMessageContaining("LIST " + uri + "/ at endpoint " + proxy.endpoint())
            .hasMessageContaining("listed the common prefix " + uri + "/, no longer than the prefix asked for");
        // a listing without the sizes and times gc needs: a NullPointerException that named nothing
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("list-type=2")
            ? FaultyHttpProxy.Fault.LISTING_WITHOUT_SIZES : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().list(o -> { })).isInstanceOf(IOException.class)
            .hasMessageContaining("LIST " + uri + "/objects/ at endpoint " + proxy.endpoint())
            .hasMessageContaining("listed the key " + uri + "/objects/" + id("a").hex()
                + " without its size or its time of modification");
      }
    }
  }

  /**
   * An endpoint that ignores {@code If-None-Match: *} (and overwrites) lets two writers both create the same ref-log
   * entry, so moves are lost without a word. {@code init} now puts the marker a second time, expects the endpoint to
   * refuse it, and otherwise removes the marker and fails, naming the endpoint; the prefix is left empty.
   */
  @Test
  void initRefusesAnEndpointThatIgnoresConditionalPuts() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("unconditional");
    String prefix = uri.getPath().substring(1) + "/";
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint()); S3Client raw = s3.client()) {
      java.util.concurrent.atomic.AtomicInteger puts = new java.util.concurrent.atomic.AtomicInteger();
      proxy.policy((method, target, n) -> method.equals("PUT") && target.contains(S3Backend.MARKER)
          && puts.incrementAndGet() > 1 ? FaultyHttpProxy.Fault.ACCEPT : FaultyHttpProxy.Fault.NONE);
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5");
      assertThatThrownBy(() -> S3Backend.open(uri, new StoreOptions(true, settings), n -> null).close())
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("endpoint " + proxy.endpoint() + " ignored If-None-Match")
          .hasMessageContaining(uri + "/" + S3Backend.MARKER);
      assertThat(raw.listObjectsV2(r -> r.bucket(LocalS3.BUCKET).prefix(prefix)).contents()).as("left empty")
          .isEmpty();
      proxy.policy((method, target, n) -> FaultyHttpProxy.Fault.NONE);
      S3Backend.open(uri, new StoreOptions(true, settings), n -> null).close();
    }
  }

  /**
   * A server (or a cache before it) that answers a ranged GET with another range of the object: the store wrote those
   * bytes where the asked range belongs and returned a mix, which core then called corrupt. The Content-Range of the
   * answer now has to be the range asked for.
   */
  @Test
  void aGetAnsweredWithAnotherRangeFails() throws Exception {
    byte[] c = new byte[200 * 1024];
    new java.util.Random(7).nextBytes(c);
    ChunkId id = ChunkId.of(c);
    URI uri = URI.create("s3://" + LocalS3.BUCKET + "/shifted");
    try (LocalS3 open = LocalS3.inMemoryWithoutAuthentication();
        FaultyHttpProxy proxy = new FaultyHttpProxy(open.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.part-size", "64k");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(c));
        java.util.concurrent.atomic.AtomicInteger gets = new java.util.concurrent.atomic.AtomicInteger();
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("/objects/")
            && gets.incrementAndGet() == 2 ? FaultyHttpProxy.Fault.SHIFTED_RANGE : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().get(id)).isInstanceOf(IOException.class)
            .hasMessageContaining("objects/" + id.hex()).hasMessageContaining("answered Content-Range bytes 0-")
            .hasMessageContaining("not the range asked for");
        assertThat(proxy.dealt(FaultyHttpProxy.Fault.SHIFTED_RANGE)).isOne();
        // a first byte past any long: read as a number, it crashed the read with NumberFormatException
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("/objects/")
            ? FaultyHttpProxy.Fault.HUGE_RANGE : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().get(id)).isInstanceOf(IOException.class)
            .hasMessageContaining("answered Content-Range bytes 9999999999999999999-");
        // a size left unknown: the error names the object, the endpoint and the header
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("/objects/")
            ? FaultyHttpProxy.Fault.UNKNOWN_SIZE : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().get(id)).isInstanceOf(IOException.class)
            .hasMessageContaining("objects/" + id.hex()).hasMessageContaining("at endpoint " + proxy.endpoint())
            .hasMessageContaining("/*', which does not give the object's size");
      }
    }
  }

  /**
   * An endpoint whose first answer to a get claims an object far bigger than it is (Content-Range {@code
   * bytes 0-65535/2147483000} for an object of 200 KiB): the get allocated an array of that size at once, before any
   * byte beyond the first part came, in each of its three rounds. Parts now come into arrays of their own and the
   * whole is allocated once they all came; the get fails naming the object and the store.
   */
  @Test
  @Timeout(60)
  void aGetWhoseFirstAnswerClaimsAHugeSizeAllocatesOnlyWhatCame() throws Exception {
    byte[] c = new byte[200 * 1024];
    new java.util.Random(11).nextBytes(c);
    ChunkId id = ChunkId.of(c);
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("lying-size");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.part-size", "64k");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(c));
        assertThat(b.chunks().get(id)).isEqualTo(ByteBuffer.wrap(c));
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("/objects/")
            ? FaultyHttpProxy.Fault.LYING_SIZE : FaultyHttpProxy.Fault.NONE);
        com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        assertThatThrownBy(() -> b.chunks().get(id)).isInstanceOf(IOException.class)
            .hasMessageContaining("object " + id + " in " + uri).hasMessageContaining("2147483000 bytes")
            .hasMessageContaining("an object of " + c.length + " bytes");
        assertThat(threads.getCurrentThreadAllocatedBytes() - before).as("bytes allocated by the get")
            .isLessThan(64L << 20);
        assertThat(proxy.dealt(FaultyHttpProxy.Fault.LYING_SIZE)).isPositive();
      }
    }
  }

  /**
   * A read allocated the caller's length before any answer came: a length past the end of a small object (or one an
   * endpoint's first answer claimed the object reaches) cost that much memory before the read failed. The result is
   * now allocated once the first and the last part came.
   */
  @Test
  @Timeout(60)
  void aReadPastTheEndAllocatesOnlyWhatCame() throws Exception {
    byte[] c = new byte[200 * 1024];
    new java.util.Random(12).nextBytes(c);
    ChunkId id = ChunkId.of(c);
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("long-read");
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.part-size", "64k");
      try (Backend b = S3Backend.open(uri, new StoreOptions(true, settings), n -> null)) {
        b.chunks().put(id, ByteBuffer.wrap(c));
        assertThat(b.chunks().read(id, 1000, c.length - 1000)).isEqualTo(ByteBuffer.wrap(c, 1000, c.length - 1000));
        com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        assertThatThrownBy(() -> b.chunks().read(id, 10, 256 << 20)).isInstanceOf(java.io.EOFException.class)
            .hasMessageContaining("object " + id + " in " + uri)
            .hasMessageContaining("runs past the end of the object (" + c.length + " bytes)");
        assertThat(threads.getCurrentThreadAllocatedBytes() - before).as("bytes allocated by the read past the end")
            .isLessThan(64L << 20);
        proxy.policy((method, target, n) -> method.equals("GET") && target.contains("/objects/")
            ? FaultyHttpProxy.Fault.LYING_SIZE : FaultyHttpProxy.Fault.NONE);
        assertThatThrownBy(() -> b.chunks().read(id, 0, 256 << 20)).isInstanceOf(IOException.class)
            .hasMessageContaining("object " + id + " in " + uri);
        assertThat(threads.getCurrentThreadAllocatedBytes() - before).as("bytes allocated by the reads")
            .isLessThan(64L << 20);
      }
    }
  }

  /**
   * The check of the bucket that follows a HEAD answered 404 is advice: an endpoint that does not implement
   * HeadBucket (501) or refuses it (403) leaves the answer "absent" as it was, rather than failing every lookup of a
   * missing object (every push).
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.EnumSource(value = FaultyHttpProxy.Fault.class,
      names = {"ERROR_501", "ACCESS_DENIED"})
  void anEndpointThatCannotCheckTheBucketStillFindsObjectsMissing(FaultyHttpProxy.Fault refusal) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("no-head-bucket");
    S3Backend.open(uri, s3.options(true), n -> null).close();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
      proxy.policy((method, target, n) -> method.equals("HEAD") && !target.contains(uri.getPath() + "/") ? refusal
          : FaultyHttpProxy.Fault.NONE);
      Map<String, String> settings = Map.of("s3.endpoint", proxy.endpoint().toString(), "s3.backoff-ms", "5",
          "s3.max-attempts", "2");
      try (Backend b = S3Backend.open(uri, new StoreOptions(false, settings), n -> null)) {
        ChunkId a = id("a");
        assertThat(b.chunks().contains(a)).isFalse();
        assertThat(b.chunks().missing(List.of(a, id("b")))).containsExactly(a, id("b"));
        assertThat(proxy.dealt(refusal)).as("HEAD of the bucket refused").isEqualTo(2);
      }
    }
  }

  /** A store that lost its marker is damage giving the marker's content, not "not empty and not a Ferry store". */
  @Test
  void aStoreThatLostItsMarkerIsADamagedStore() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("marker-lost");
    String p = uri.getPath().substring(1) + "/";
    try (Backend b = S3Backend.open(uri, s3.options(true), n -> null)) {
      ChunkId id = ChunkId.of(new byte[] {1, 2, 3});
      b.chunks().put(id, ByteBuffer.wrap(new byte[] {1, 2, 3}));
      b.refs().compareAndSet("m/head", null, id, new io.ferry.store.RefLogEntry(null, id, "t", java.time.Instant.now(),
          "first"));
    }
    try (S3Client raw = s3.client()) {
      raw.deleteObject(r -> r.bucket(LocalS3.BUCKET).key(p + io.ferry.store.StoreMarker.NAME));
    }
    assertThatThrownBy(() -> S3Backend.open(uri, s3.options(true), n -> null))
        .isInstanceOf(io.ferry.error.CorruptStoreException.class).hasMessageContaining("is missing")
        .hasMessageContaining("\"format\":\"ferry-store\"");
  }

  /**
   * The S3 console's "Create folder" puts an empty object whose key ends with '/' (a folder marker). A prefix holding
   * only its own marker was "not empty and not a Ferry store", so init refused it; and markers were listed as records
   * named '' or 'leases/', names no record can have.
   */
  @Test
  void folderMarkersAreNeitherDataNorRecords() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("folder");
    String p = uri.getPath().substring(1) + "/";
    try (S3Client raw = s3.client()) {
      raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(p), RequestBody.empty());
      raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(p + "leases/"), RequestBody.empty());
      try (Backend b = S3Backend.open(uri, s3.options(true), n -> null)) {
        b.records().create("leases/x", new byte[] {1});
        assertThat(b.records().list("")).containsExactly("leases/x");
        assertThat(b.records().list("leases/")).containsExactly("leases/x");
      }
      URI other = LocalS3.freshStoreUri("folder-with-data");
      String q = other.getPath().substring(1) + "/";
      raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(q), RequestBody.empty());
      raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(q + "notes.txt"), RequestBody.fromString("data"));
      assertThatThrownBy(() -> S3Backend.open(other, s3.options(true), n -> null))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("is not empty and is not a Ferry store");
    }
  }
}
