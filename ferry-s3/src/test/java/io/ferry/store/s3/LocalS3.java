package io.ferry.store.s3;

import io.ferry.store.StoreOptions;
import java.net.URI;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import org.gaul.s3proxy.nio2blob.FilesystemNio2BlobStore;
import org.gaul.s3proxy.nio2blob.TransientNio2BlobStore;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An S3 endpoint on loopback: S3Proxy in this JVM, with an in-memory blob store (tests) or a directory (the dev
 * command). Starts in about half a second. One bucket, {@value #BUCKET}, exists from the start.
 *
 * <p>Credentials are fixed ({@value #ACCESS_KEY} / {@value #SECRET_KEY}); the backend under test finds them through
 * the AWS SDK's default chain, from the {@code aws.accessKeyId} / {@code aws.secretAccessKey} system properties that
 * the build sets for tests ({@link #jvmOptions()} passes them on to child JVMs).
 */
public final class LocalS3 implements AutoCloseable {
  public static final String ACCESS_KEY = "ferry-test-access";
  public static final String SECRET_KEY = "ferry-test-secret-key";
  public static final String REGION = "us-east-1";
  public static final String BUCKET = "ferry";

  private static final AtomicInteger PREFIXES = new AtomicInteger();
  private static LocalS3 shared;

  private final S3Proxy proxy;
  private final URI endpoint;

  private LocalS3(BlobStore blobs, int port) throws Exception {
    this(blobs, port, AuthenticationType.AWS_V2_OR_V4);
  }

  private LocalS3(BlobStore blobs, int port, AuthenticationType authentication) throws Exception {
    proxy = S3Proxy.builder().blobStore(blobs).endpoint(URI.create("http://127.0.0.1:" + port))
        .awsAuthentication(authentication, ACCESS_KEY, SECRET_KEY).build();
    proxy.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!"STARTED".equals(proxy.getState())) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("S3Proxy did not start within 30 s (state " + proxy.getState() + ")");
      }
      Thread.sleep(5);
    }
    endpoint = URI.create("http://127.0.0.1:" + proxy.getPort());
    try (S3Client admin = client()) {
      if (admin.listBuckets().buckets().stream().noneMatch(b -> b.name().equals(BUCKET))) {
        admin.createBucket(b -> b.bucket(BUCKET));
      }
    }
  }

  /** Starts S3Proxy with an in-memory store. */
  public static LocalS3 inMemory() throws Exception {
    return new LocalS3(new TransientNio2BlobStore(), 0);
  }

  /**
   * Starts S3Proxy with an in-memory store that checks no signatures, so that a test proxy may change signed headers
   * of a request (its {@code Range}) on the way. Close it after the test.
   */
  public static LocalS3 inMemoryWithoutAuthentication() throws Exception {
    return new LocalS3(new TransientNio2BlobStore(), 0, AuthenticationType.NONE);
  }

  /** Starts S3Proxy storing under {@code dir}, on {@code port} (0: any free port). */
  public static LocalS3 inDirectory(Path dir, int port) throws Exception {
    return new LocalS3(new FilesystemNio2BlobStore(dir.toAbsolutePath().toString()), port);
  }

  /**
   * One in-memory endpoint for the whole test JVM, started on first use. A failure to start fails the test; it never
   * skips it (with or without CI).
   */
  public static synchronized LocalS3 shared() throws Exception {
    if (shared == null) {
      shared = inMemory();
      LocalS3 s = shared;
      Runtime.getRuntime().addShutdownHook(new Thread(s::close));
    }
    return shared;
  }

  /** The endpoint, e.g. {@code http://127.0.0.1:40123}. */
  public URI endpoint() {
    return endpoint;
  }

  /** A store URI under a prefix no other caller of this method in this JVM gets. */
  public static URI freshStoreUri(String label) {
    return URI.create("s3://" + BUCKET + "/" + label + "-" + PREFIXES.incrementAndGet());
  }

  /** Settings that reach this endpoint ({@code s3.endpoint}), plus {@code more}. */
  public Map<String, String> settings(Map<String, String> more) {
    Map<String, String> s = new HashMap<>(more);
    s.put(S3Settings.ENDPOINT, endpoint.toString());
    return s;
  }

  /** Options to open (and create) a store on this endpoint. */
  public StoreOptions options(boolean create) {
    return new StoreOptions(create, settings(Map.of()));
  }

  /** JVM options that give a child JVM this endpoint's credentials and region through the SDK's default chains. */
  public static List<String> jvmOptions() {
    return List.of("-Daws.accessKeyId=" + ACCESS_KEY, "-Daws.secretAccessKey=" + SECRET_KEY, "-Daws.region=" + REGION);
  }

  /** A raw client of this endpoint, for tests that look behind the backend. */
  public S3Client client() {
    return S3Client.builder().endpointOverride(endpoint).forcePathStyle(true).region(Region.of(REGION))
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)))
        .build();
  }

  @Override
  public void close() {
    try {
      proxy.stop();
    } catch (Exception e) {
      throw new IllegalStateException("stopping S3Proxy", e);
    }
  }
}
