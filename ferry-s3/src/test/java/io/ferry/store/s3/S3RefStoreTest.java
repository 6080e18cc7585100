package io.ferry.store.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.id.ChunkId;
import io.ferry.store.Backend;
import io.ferry.store.CasResult;
import io.ferry.store.RefLogEntry;
import io.ferry.store.refs.RefLogFormat;
import io.ferry.testkit.RefStoreContract;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The whole {@link RefStoreContract} against S3Proxy, a fresh store prefix per test. The multi-process tests start
 * child JVMs that reach the S3Proxy of this JVM over loopback: the endpoint goes in the store settings, the
 * credentials in system properties.
 */
class S3RefStoreTest extends RefStoreContract {
  @Override
  protected Backend newBackend(Path scratch) throws Exception {
    LocalS3 s3 = LocalS3.shared();
    return S3Backend.open(LocalS3.freshStoreUri("refs"), s3.options(true), name -> null);
  }

  @Override
  protected Map<String, String> storeSettings(Backend backend) throws Exception {
    return LocalS3.shared().settings(Map.of());
  }

  @Override
  protected List<String> childJvmOptions() {
    return LocalS3.jvmOptions();
  }

  @Test
  void logsWrittenByTheS3RefStoreOfFormat1StillRead() throws Exception {
    String prefix = java.net.URI.create(backend.uri()).getPath().substring(1) + "/";
    ChunkId a = id("a");
    ChunkId b = id("b");
    RefLogEntry first = new RefLogEntry(null, a, "alice", Instant.parse("2026-11-01T10:00:00Z"), "push");
    RefLogEntry second = new RefLogEntry(a, b, "bob", Instant.parse("2026-11-02T10:00:00Z"), "promote");
    try (S3Client raw = LocalS3.shared().client()) {
      put(raw, prefix + "ref-names/org/llama/tags/prod", new byte[0]);
      put(raw, prefix + "refs/org/llama/tags/prod/log/00000000000000000001", withNonce(first, "0123abcd"));
      put(raw, prefix + "refs/org/llama/tags/prod/log/00000000000000000002", withNonce(second, "4567ef01"));
      put(raw, prefix + "refs/org/llama/tags/prod/tip", ("1 " + a.hex() + "\n").getBytes(StandardCharsets.US_ASCII));
    }
    try (Backend cold = reopen()) {
      assertThat(cold.refs().get("org/llama/tags/prod")).contains(b);
      assertThat(cold.refs().list("org/")).containsExactly("org/llama/tags/prod");
      assertThat(cold.refs().log("org/llama/tags/prod")).containsExactly(first, second);
      ChunkId c = id("c");
      assertThat(cold.refs().compareAndSet("org/llama/tags/prod", b, c,
          new RefLogEntry(b, c, "carol", Instant.now(), "next"))).isEqualTo(CasResult.UPDATED);
    }
    try (S3Client raw = LocalS3.shared().client()) {
      String third = raw.getObjectAsBytes(r -> r.bucket(LocalS3.BUCKET)
          .key(prefix + "refs/org/llama/tags/prod/log/00000000000000000003")).asUtf8String();
      assertThat(third.split("\n")).as("entry line, then nonce line").hasSize(2);
      assertThat(third.split("\n")[1]).matches("nonce [0-9a-f]{32}");
      assertThat(raw.getObjectAsBytes(r -> r.bucket(LocalS3.BUCKET).key(prefix + "refs/org/llama/tags/prod/tip"))
          .asUtf8String()).isEqualTo("3 " + id("c").hex() + "\n");
    }
  }

  private static byte[] withNonce(RefLogEntry e, String nonce) {
    return (new String(RefLogFormat.encode(e), StandardCharsets.UTF_8) + "nonce " + nonce + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  private static void put(S3Client raw, String key, byte[] body) {
    raw.putObject(r -> r.bucket(LocalS3.BUCKET).key(key), RequestBody.fromBytes(body));
  }
}
