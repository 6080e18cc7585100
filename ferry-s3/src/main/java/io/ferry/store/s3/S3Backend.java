package io.ferry.store.s3;

import io.ferry.concurrent.DaemonThreads;
import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.ChunkStore;
import io.ferry.store.RecordStore;
import io.ferry.store.RefStore;
import io.ferry.store.StoreMarker;
import io.ferry.store.StoreOptions;
import io.ferry.store.refs.NumberedRefStore;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import software.amazon.awssdk.awscore.AwsRequestOverrideConfiguration;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttribute;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.retries.api.RetryStrategy;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * A Ferry store in an S3 bucket under a key prefix ({@code s3://bucket/prefix}), on Amazon S3 or an S3-compatible
 * store. See {@code docs/s3.md} for the design.
 *
 * <p>Layout under the prefix:
 *
 * <pre>
 * ferry-store.json                 marker: {"format":"ferry-store","version":1,"id":"&lt;32 hex&gt;"}
 * objects/&lt;64 hex&gt;               one object per chunk frame, pack, snapshot or version (no fan-out: see below)
 * refs/&lt;ref&gt;/log/&lt;seq, 20 digits&gt;  the ref's log: one immutable entry per move, created exclusively (the CAS)
 * refs/&lt;ref&gt;/tip                 hint: the seq and value of a recent entry, so readers start near the end
 * ref-names/&lt;ref&gt;                 empty; written before a ref's first entry, so refs can be listed cheaply
 * leases/...                    other records core keeps
 * </pre>
 *
 * <p>Everything but {@code objects/} is a record of {@link S3RecordStore}; the refs are core's {@link
 * NumberedRefStore} (layout {@link NumberedRefStore.Layout#INDEXED}) over those records.
 *
 * <p>Objects are not fanned out into sub-prefixes: S3 has no directories, it partitions a bucket's key space by key
 * ranges and splits hot ranges on its own, and chunk ids are uniformly random hex, so the keys under {@code objects/}
 * spread evenly over whatever partitions S3 makes.
 *
 * <p>The backend needs conditional writes ({@code If-None-Match: *}), which Amazon S3 has since August 2024 and
 * S3Proxy, MinIO and others support; and read-after-write consistency for new keys, which S3 has had since December
 * 2020. It needs {@code s3:ListBucket} on the prefix, so that a missing key is a 404 and not a 403.
 *
 * <p>Thread-safe. Owns its HTTP client and a small thread pool; {@link #close()} releases both and is idempotent.
 */
public final class S3Backend implements Backend {
  /** Name of the marker object at the store's root ({@link StoreMarker#NAME}). */
  public static final String MARKER = StoreMarker.NAME;
  /** The store format version this code writes and reads ({@link StoreMarker#FORMAT_VERSION}). */
  public static final int FORMAT_VERSION = StoreMarker.FORMAT_VERSION;
  /** Attempts of a backend's first request at most ({@link #firstContact}). */
  static final int FIRST_CONTACT_ATTEMPTS = 3;
  /** Counts the attempts (HTTP requests) of a call that carries it; see {@link #attemptsLeft}. */
  private static final ExecutionAttribute<AtomicInteger> ATTEMPTS = new ExecutionAttribute<>("ferry.attempts");

  private final S3Location location;
  private final S3Settings settings;
  private final S3Client s3;
  private final ExecutorService pool;
  private final String where;
  private final S3ChunkStore chunks;
  private final S3RecordStore records;
  private final NumberedRefStore refs;
  private final AtomicBoolean closed = new AtomicBoolean();
  private Optional<String> markerId = Optional.empty();
  /** False once the endpoint answered a conditional delete 501 (not implemented). */
  private final AtomicBoolean conditionalDeletes = new AtomicBoolean(true);

  private S3Backend(S3Location location, S3Settings settings, S3Client s3) {
    this.location = location;
    this.settings = settings;
    this.s3 = s3;
    this.where = location.uri() + " (endpoint " + endpointName() + ")";
    this.pool = Executors.newFixedThreadPool(settings.parallelism(), DaemonThreads.named("ferry-s3-" + location.bucket()));
    this.chunks = new S3ChunkStore(this);
    this.records = new S3RecordStore(this);
    this.refs = new NumberedRefStore(records, NumberedRefStore.Layout.INDEXED);
  }

  /**
   * Opens the store named by an {@code s3://} URI, creating it when {@code options.create()} is set. The bucket must
   * exist; a store is created in it by writing the marker under the prefix, which must then hold no other key.
   *
   * @param env the environment (for {@code FERRY_S3_ENDPOINT}); {@code System::getenv} in production
   * @throws InvalidInputException if there is no store and {@code create} is false, if the bucket does not exist, if
   *     the prefix holds keys but no marker, or if the marker is not one this code reads
   */
  public static S3Backend open(URI uri, StoreOptions options, Function<String, String> env) throws IOException {
    return open(uri, options, env, null);
  }

  /** {@link #open(URI, StoreOptions, Function)} with these credentials instead of the SDK's default chain (if non-null). */
  static S3Backend open(URI uri, StoreOptions options, Function<String, String> env,
      software.amazon.awssdk.auth.credentials.AwsCredentialsProvider credentials) throws IOException {
    S3Location location = S3Location.parse(uri);
    S3Settings settings = S3Settings.from(options.settings(), env);
    S3Backend backend = new S3Backend(location, settings, client(settings, credentials));
    try {
      backend.checkOrCreateMarker(options.create());
      return backend;
    } catch (IOException | RuntimeException e) {
      backend.close();
      throw e;
    }
  }

  private static S3Client client(S3Settings settings,
      software.amazon.awssdk.auth.credentials.AwsCredentialsProvider credentials) {
    RetryStrategy retry = retryStrategy(settings, settings.maxAttempts());
    S3ClientBuilder b = S3Client.builder()
        .httpClientBuilder(Apache5HttpClient.builder()
            .maxConnections(settings.maxConnections())
            .connectionTimeout(Duration.ofSeconds(10))
            .connectionAcquisitionTimeout(Duration.ofMinutes(2))
            .socketTimeout(settings.socketTimeout())
            .tcpKeepAlive(true))
        .overrideConfiguration(o -> o.retryStrategy(retry).addExecutionInterceptor(new ExecutionInterceptor() {
          @Override
          public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
            AtomicInteger attempts = attributes.getAttribute(ATTEMPTS);
            if (attempts != null) {
              attempts.incrementAndGet();
            }
          }
        }))
        .forcePathStyle(settings.pathStyle())
        // We send a CRC32C of every body we put ourselves; chunk frames and ref entries carry their own checksums,
        // checked by core on every read, and ranged GETs have no whole-object checksum to validate.
        .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
        .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
    if (settings.endpoint() != null) {
      b.endpointOverride(settings.endpoint());
    }
    if (credentials != null) {
      b.credentialsProvider(credentials);
    }
    Region region = region(settings);
    if (region == null) {
      b.region(Region.US_EAST_1).crossRegionAccessEnabled(true);
    } else {
      b.region(region);
    }
    return b.build();
  }

  private static RetryStrategy retryStrategy(S3Settings settings, int attempts) {
    return AwsRetryStrategy.standardRetryStrategy().toBuilder()
        .maxAttempts(attempts)
        .backoffStrategy(BackoffStrategy.exponentialDelay(settings.backoff(), Duration.ofSeconds(10)))
        .throttlingBackoffStrategy(BackoffStrategy.exponentialDelay(settings.backoff().multipliedBy(5),
            Duration.ofSeconds(20)))
        .circuitBreakerEnabled(false)
        .retryOnException(S3Backend::isRetryableServiceError)
        .build();
  }

  /**
   * How the first request of a backend (the marker's GET, when it opens) differs from the others: at most {@link
   * #FIRST_CONTACT_ATTEMPTS} attempts, all within one socket timeout and ten seconds. An endpoint that refuses
   * connections, or accepts them and never answers (a wrong port, something that is not an S3 endpoint), then fails
   * the command in well under a minute instead of after every attempt's backoff and timeout (18 s and 5 minutes with
   * the defaults). Once the endpoint has answered, the other requests retry as configured, since their failures are
   * far likelier to pass.
   */
  private static AwsRequestOverrideConfiguration firstContact(S3Settings settings) {
    RetryStrategy retry = retryStrategy(settings, Math.min(FIRST_CONTACT_ATTEMPTS, settings.maxAttempts()));
    return AwsRequestOverrideConfiguration.builder()
        .apiCallTimeout(firstContactLimit(settings))
        .addPlugin(config -> config.overrideConfiguration(o -> o.retryStrategy(retry)))
        .build();
  }

  /**
   * The configuration of a call that shares one budget of {@code s3.max-attempts} attempts with the calls before it
   * ({@code used} counts the attempts of them all, this one's included): the SDK retries it only as often as the
   * budget allows. A ranged GET whose body breaks off is sent again by the store, not by the SDK; each such call
   * could otherwise make max-attempts attempts of its own.
   *
   * @throws IllegalStateException if the budget is spent
   */
  AwsRequestOverrideConfiguration attemptsLeft(AtomicInteger used) {
    int left = settings.maxAttempts() - used.get();
    if (left < 1) {
      throw new IllegalStateException("no attempts left of " + settings.maxAttempts());
    }
    AwsRequestOverrideConfiguration.Builder b = AwsRequestOverrideConfiguration.builder()
        .putExecutionAttribute(ATTEMPTS, used);
    if (left < settings.maxAttempts()) {
      // only after a body broke off, which is rare: not worth keeping a strategy for every count
      RetryStrategy retry = retryStrategy(settings, left);
      b.addPlugin(config -> config.overrideConfiguration(o -> o.retryStrategy(retry)));
    }
    return b.build();
  }

  private static Duration firstContactLimit(S3Settings settings) {
    return settings.socketTimeout().plusSeconds(10);
  }

  private static Region region(S3Settings settings) {
    if (settings.region() != null) {
      return Region.of(settings.region());
    }
    try {
      return DefaultAwsRegionProviderChain.builder().build().getRegion();
    } catch (SdkException none) {
      return null;
    }
  }

  /**
   * Errors the SDK does not retry by itself but that are transient: a body damaged on the way (the store refused it
   * because its checksum did not match), S3's 409 for conditional writes racing on one key, and a response body
   * damaged on the way back (the SDK cannot parse the XML of a listing or an error). Every request Ferry sends is
   * idempotent or conditional, so sending it again is safe.
   */
  private static boolean isRetryableServiceError(Throwable t) {
    if (t instanceof software.amazon.awssdk.core.exception.SdkClientException
        && t.getMessage() != null && t.getMessage().startsWith("Could not parse XML response")) {
      return true;
    }
    if (t instanceof S3Exception e && e.awsErrorDetails() != null) {
      String code = e.awsErrorDetails().errorCode();
      return "BadDigest".equals(code) || "InvalidDigest".equals(code) || "XAmzContentChecksumMismatch".equals(code)
          || "ConditionalRequestConflict".equals(code) || "IncompleteBody".equals(code);
    }
    return false;
  }

  private void checkOrCreateMarker(boolean create) throws IOException {
    String key = location.key(MARKER);
    markerId = StoreMarker.openOrCreate(new StoreMarker.Site() {
      @Override
      public String describe() {
        return where;
      }

      @Override
      public String markerName() {
        return location.describeKey(key);
      }

      @Override
      public String absentHint() {
        return "(" + key + " is absent: run 'ferry init' or check --store and --s3-endpoint)";
      }

      @Override
      public Optional<byte[]> readMarker() throws IOException {
        return Optional.ofNullable(getIfExists(key, firstContact(settings)));
      }

      /** Whether the prefix holds no key but folder markers (see {@link #isFolderMarker}), of which 100 at most. */
      @Override
      public boolean isEmpty() throws IOException {
        try {
          ListObjectsV2Response page = s3.listObjectsV2(ListObjectsV2Request.builder().bucket(location.bucket())
              .prefix(location.keyPrefix()).maxKeys(100).build());
          return page.contents().stream().allMatch(S3Backend::isFolderMarker)
              && !Boolean.TRUE.equals(page.isTruncated());
        } catch (S3Exception e) {
          IOException bucket = bucketProblem(e);
          throw bucket != null ? bucket : failure("LIST", location.keyPrefix(), e);
        } catch (SdkException e) {
          throw failure("LIST", location.keyPrefix(), e);
        }
      }

      /** Whether keys are under both {@code objects/} and {@code refs/}: a store that lost its marker. */
      @Override
      public boolean holdsStore() throws IOException {
        return anyKey(location.key(S3ChunkStore.OBJECTS)) && anyKey(location.key("refs/"));
      }

      private boolean anyKey(String prefix) throws IOException {
        try {
          return s3.listObjectsV2(ListObjectsV2Request.builder().bucket(location.bucket()).prefix(prefix).maxKeys(1)
              .build()).contents().stream().anyMatch(o -> !isFolderMarker(o));
        } catch (S3Exception e) {
          IOException bucket = bucketProblem(e);
          throw bucket != null ? bucket : failure("LIST", prefix, e);
        } catch (SdkException e) {
          throw failure("LIST", prefix, e);
        }
      }

      /**
       * Puts the marker if absent, then once more, which the endpoint must refuse (412): one that ignores {@code
       * If-None-Match: *} and overwrites would let two writers create the same ref-log entry, and moves would be
       * lost without a word. Such an endpoint gets its marker removed and the store is not created.
       */
      @Override
      public boolean publish(byte[] marker) throws IOException {
        if (!putIfAbsent(key, marker)) {
          return false;
        }
        if (putIfAbsent(key, marker)) {
          deleteKey(key);
          throw new InvalidInputException("endpoint " + endpointName() + " ignored If-None-Match: * on a second PUT"
              + " of " + location.describeKey(key) + " (it overwrote the object instead of answering 412): Ferry"
              + " moves refs by conditional puts, which such an endpoint cannot do safely, so no store was created"
              + " at " + location.uri() + "; use an endpoint with conditional writes (Amazon S3, or an S3-compatible"
              + " store that implements them)");
        }
        return true;
      }
    }, create);
  }

  /**
   * Whether a listed object is a folder marker: an empty object whose key ends with '/', which the S3 console's
   * "Create folder" puts (a user may have made one for the store's prefix before {@code init}). No record or object
   * of a store has such a key.
   */
  static boolean isFolderMarker(software.amazon.awssdk.services.s3.model.S3Object o) {
    return o.key() != null && o.key().endsWith("/") && o.size() != null && o.size() == 0;
  }

  /**
   * When the SDK found no credentials (its message lists every provider of its chain, about 1,500 characters): one
   * line saying what to set, as {@code aws} does; else null.
   */
  IOException missingCredentials(Throwable e) {
    if (!(e instanceof software.amazon.awssdk.core.exception.SdkClientException) || e.getMessage() == null
        || !e.getMessage().startsWith("Unable to load credentials")) {
      return null;
    }
    return new InvalidInputException("no AWS credentials found for " + where + ": set AWS_ACCESS_KEY_ID and"
        + " AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile of ~/.aws/credentials), or run where an instance or"
        + " container role provides them; for an S3-compatible store, also --s3-endpoint URL (or $FERRY_S3_ENDPOINT)"
        + " and --store-option s3.region=REGION", e);
  }

  /** An error naming the bucket or the credentials as the problem, or null if it is about something else. */
  private IOException bucketProblem(S3Exception e) {
    if (noSuchBucket(e)) {
      return new InvalidInputException("bucket '" + location.bucket() + "' does not exist at endpoint "
          + endpointName() + " (Ferry does not create buckets)", e);
    }
    if (e.statusCode() == 403) {
      return new InvalidInputException("access to " + where + " denied: " + e.getMessage()
          + " (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance role)",
          e);
    }
    return null;
  }

  /** Whether S3 answered that the bucket does not exist (it may have been deleted while the store was open). */
  static boolean noSuchBucket(Throwable e) {
    return e instanceof S3Exception s && s.statusCode() == 404 && s.awsErrorDetails() != null
        && "NoSuchBucket".equals(s.awsErrorDetails().errorCode());
  }

  /**
   * Fails if the bucket does not exist; for requests whose answer cannot say so themselves. A {@code HEAD} has no
   * body, so S3 answers it 404 alike for a missing key and a missing bucket; a caller that got 404 asks here, once the
   * requests it is about have been answered, which of the two it was. A bucket that can be neither confirmed nor
   * denied passes: credentials without {@code s3:ListBucket} (403), an endpoint without {@code HeadBucket} (405,
   * 501), a failure after the retries; a later request that has a body names the bucket if it is missing.
   *
   * @param op the request that was answered 404, for the message
   * @throws InvalidInputException naming the bucket, if it does not exist
   */
  void checkBucket(String op, String key) throws IOException {
    try {
      s3.headBucket(b -> b.bucket(location.bucket()));
    } catch (S3Exception e) {
      if (e.statusCode() == 404) {
        throw bucketGone(op, key, e);
      }
    } catch (SdkException e) {
      // the bucket could not be checked: the 404 stands, and a request that can name the bucket will
    }
  }

  /**
   * The continuation token for the page after {@code page} of a listing under {@code prefix}, or null after its last
   * page.
   *
   * @param previous the token that asked for {@code page} (null for the first page)
   * @param seen the tokens of the listing so far; the one returned is added
   * @throws IOException if the page says the listing goes on but gives no token, or a token the listing has had
   *     before (the one that asked for the page, or one of an earlier page): a listing that stopped there would be
   *     short (gc would miss push leases, and delete what they protect), and one that asked again would never end
   */
  String nextPage(ListObjectsV2Response page, String previous, java.util.Set<String> seen, String prefix)
      throws IOException {
    if (!Boolean.TRUE.equals(page.isTruncated())) {
      return null;
    }
    String next = page.nextContinuationToken();
    String defect = next == null || next.isEmpty() ? "no continuation token"
        : next.equals(previous) ? "the continuation token that asked for it"
        : seen.contains(next) ? "the continuation token of an earlier page (" + (seen.size() + 1)
            + " pages into the listing)"
        : null;
    if (defect != null) {
      throw new IOException("LIST " + location.describeKey(prefix) + " at endpoint " + endpointName() + ": a page"
          + " of " + page.keyCount() + " keys says more follow but gives " + defect
          + "; the endpoint does not page ListObjectsV2 as S3 does");
    }
    seen.add(next);
    return next;
  }

  /**
   * {@code key}, a key (or common prefix) of a page of a listing under {@code prefix}.
   *
   * @throws IOException if it is outside the prefix: an endpoint that ignores the prefix parameter (or a hostile one)
   *     would have this store read the keys of others as its own
   */
  String listed(String key, String prefix) throws IOException {
    if (key == null || !key.startsWith(prefix)) {
      throw new IOException("LIST " + location.describeKey(prefix) + " at endpoint " + endpointName() + " listed the"
          + " key " + (key == null ? "(none)" : location.describeKey(key)) + ", outside the prefix asked for; the"
          + " endpoint does not answer ListObjectsV2 as S3 does");
    }
    return key;
  }

  /**
   * {@code key}, listed under {@code prefix} after {@code previous} (null for the listing's first key).
   *
   * @throws IOException if it is outside the prefix, or not after {@code previous}: S3 lists each key once, in the
   *     ascending order of its UTF-8 bytes; a key listed twice was counted twice by gc's dry run and by {@code stats}
   *     (an endpoint that repeats a page, or a proxy that does). A directory bucket (its name ends in {@code --x-s3})
   *     lists in no order, and is not checked.
   */
  String listedAfter(String key, String previous, String prefix) throws IOException {
    listed(key, prefix);
    if (previous != null && !location.bucket().endsWith("--x-s3") && compareCodePoints(key, previous) <= 0) {
      throw new IOException("LIST " + location.describeKey(prefix) + " at endpoint " + endpointName() + " listed the"
          + " key " + location.describeKey(key) + (key.equals(previous) ? " twice" : " after "
          + location.describeKey(previous)) + "; S3 lists each key once, in ascending order: the endpoint does not"
          + " answer ListObjectsV2 as S3 does");
    }
    return key;
  }

  /** The order of UTF-8 bytes, which is that of code points (not of Java's UTF-16 chars). */
  private static int compareCodePoints(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) {
        return Integer.compare(ca, cb);
      }
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Boolean.compare(i < a.length(), j < b.length());
  }

  /**
   * {@code dir}, a common prefix of a page of a listing under {@code prefix} with a delimiter.
   *
   * @throws IOException if it is outside the prefix or no longer than it: a common prefix is the prefix asked for and
   *     at least the delimiter
   */
  String listedDirectory(String dir, String prefix) throws IOException {
    if (listed(dir, prefix).length() <= prefix.length()) {
      throw new IOException("LIST " + location.describeKey(prefix) + " at endpoint " + endpointName() + " listed the"
          + " common prefix " + location.describeKey(dir) + ", no longer than the prefix asked for; the endpoint does"
          + " not answer ListObjectsV2 as S3 does");
    }
    return dir;
  }

  // ---- small requests shared by the chunk and ref stores ----

  /** The whole object at {@code key}, or null if it does not exist. For small objects (markers, ref entries). */
  byte[] getIfExists(String key) throws IOException {
    return getIfExists(key, null);
  }

  private byte[] getIfExists(String key, AwsRequestOverrideConfiguration override) throws IOException {
    try {
      return s3.getObjectAsBytes(GetObjectRequest.builder().bucket(location.bucket()).key(key)
          .overrideConfiguration(override).build()).asByteArrayUnsafe();
    } catch (S3Exception e) {
      IOException bucket = bucketProblem(e);
      if (bucket != null) {
        throw bucket;
      }
      if (e.statusCode() == 404) {
        return null;
      }
      throw failure("GET", key, e);
    } catch (ApiCallTimeoutException e) {
      throw new IOException("no answer from endpoint " + endpointName() + " within "
          + firstContactLimit(settings).toSeconds() + " s to GET " + location.describeKey(key) + " ("
          + S3Settings.SOCKET_TIMEOUT_MS + " is " + settings.socketTimeout().toMillis()
          + " ms): is --s3-endpoint an S3 endpoint, and reachable?", e);
    } catch (SdkException e) {
      throw failure("GET", key, e, override == null ? settings.maxAttempts()
          : Math.min(FIRST_CONTACT_ATTEMPTS, settings.maxAttempts()));
    }
  }

  /** The endpoint, or "AWS", for messages. */
  String endpointName() {
    return settings.endpoint() == null ? "AWS" : settings.endpoint().toString();
  }

  /**
   * Creates the object {@code key} with {@code body} if no object has that key ({@code If-None-Match: *}).
   *
   * @return true if this call created it, false if it existed (412)
   */
  boolean putIfAbsent(String key, byte[] body) throws IOException {
    try {
      s3.putObject(PutObjectRequest.builder().bucket(location.bucket()).key(key).ifNoneMatch("*")
          .contentLength((long) body.length).checksumCRC32C(Checksums.crc32cBase64(body)).build(),
          RequestBody.fromBytes(body));
      return true;
    } catch (S3Exception e) {
      if (e.statusCode() == 412) {
        return false;
      }
      throw failure("PUT", key, e);
    } catch (SdkException e) {
      throw failure("PUT", key, e);
    }
  }

  /** Writes {@code key} unconditionally (only for hints, which readers never trust alone). */
  void put(String key, byte[] body) throws IOException {
    try {
      s3.putObject(PutObjectRequest.builder().bucket(location.bucket()).key(key)
          .contentLength((long) body.length).checksumCRC32C(Checksums.crc32cBase64(body)).build(),
          RequestBody.fromBytes(body));
    } catch (SdkException e) {
      throw failure("PUT", key, e);
    }
  }

  /** Deletes one key of this store's bucket; an absent key is not an error. */
  void deleteKey(String key) throws IOException {
    try {
      s3().deleteObject(software.amazon.awssdk.services.s3.model.DeleteObjectRequest.builder()
          .bucket(location.bucket()).key(key).build());
    } catch (software.amazon.awssdk.services.s3.model.S3Exception e) {
      if (e.statusCode() != 404 || noSuchBucket(e)) {
        throw failure("DELETE", key, e);
      }
    } catch (software.amazon.awssdk.core.exception.SdkException e) {
      throw failure("DELETE", key, e);
    }
  }

  /**
   * Deletes one key of this store's bucket if it exists, and says whether this call removed it: a {@code
   * DeleteObject} with {@code If-Match: *}, which S3 carries out only if the key exists when the request is served
   * (204) and answers 404 when it does not (412 when its current version is a delete marker). Of several such
   * deletes of one key at once, one removes it and the others are answered 404. If the answer to a delete that
   * removed the key is lost and the SDK sends it again, the resend answers 404: the key is gone, but this call says
   * false. Endpoints that carry out a conditional delete of an absent key and answer 204 (S3Proxy) make this answer
   * true for it; so does an endpoint that does not implement conditional deletes (501), which gets plain deletes
   * from then on.
   */
  boolean deleteKeyIfPresent(String key) throws IOException {
    if (!conditionalDeletes.get()) {
      deleteKey(key);
      return true;
    }
    try {
      s3.deleteObject(software.amazon.awssdk.services.s3.model.DeleteObjectRequest.builder()
          .bucket(location.bucket()).key(key).ifMatch("*").build());
      return true;
    } catch (S3Exception e) {
      IOException bucket = bucketProblem(e);
      if (bucket != null) {
        throw bucket;
      }
      if (e.statusCode() == 404 || e.statusCode() == 412) {
        return false;
      }
      if (e.statusCode() == 501 || e.statusCode() == 400) {
        // an endpoint that does not implement conditional deletes, or refuses the header as an argument it does not
        // take (some S3-compatible stores answer 400): plain deletes from now on, which gc needs more than its count
        conditionalDeletes.set(false);
        deleteKey(key);
        return true;
      }
      throw failure("DELETE", key, e);
    } catch (SdkException e) {
      throw failure("DELETE", key, e);
    }
  }

  /**
   * An IOException for a request that failed after the SDK's retries, naming the request, the object and the
   * endpoint.
   */
  IOException failure(String op, String key, Throwable e) {
    return failure(op, key, e, settings.maxAttempts());
  }

  private IOException failure(String op, String key, Throwable e, int attempts) {
    IOException credentials = missingCredentials(e);
    if (credentials != null) {
      return credentials;
    }
    if (e instanceof S3Exception s && s.statusCode() == 403) {
      return denied(op, key, s);
    }
    if (noSuchBucket(e)) {
      return bucketGone(op, key, e);
    }
    String why = e.getMessage() == null ? e.toString() : e.getMessage();
    return new IOException(op + " " + location.describeKey(key) + " at endpoint "
        + endpointName() + " failed (up to " + attempts
        + " attempts): " + why, e);
  }

  private InvalidInputException bucketGone(String op, String key, Throwable e) {
    return new InvalidInputException(op + " " + location.describeKey(key) + ": bucket '" + location.bucket()
        + "' does not exist at endpoint " + endpointName() + " (it was deleted while " + location.uri()
        + " was open?)", e);
  }

  /**
   * A request answered 403: what S3 said, if anything (a HEAD's answer has no body), and what to check, including
   * that without {@code s3:ListBucket} S3 answers 403 for a key that does not exist.
   */
  private IOException denied(String op, String key, S3Exception e) {
    AwsErrorDetails d = e.awsErrorDetails();
    String code = d == null ? null : d.errorCode();
    String said = code == null || code.isBlank() ? "S3 gave no reason" : code
        + (d.errorMessage() == null ? "" : ": " + d.errorMessage());
    return new InvalidInputException(op + " " + location.describeKey(key) + " at endpoint " + endpointName()
        + " was denied (403, " + said + "): check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
        + " AWS_PROFILE, or the instance role) and that they grant s3:GetObject, s3:PutObject, s3:DeleteObject and"
        + " s3:ListBucket (without s3:ListBucket, S3 answers 403 for a key that does not exist)", e);
  }

  static InterruptedIOException interrupted(String what, InterruptedException e) {
    Thread.currentThread().interrupt();
    InterruptedIOException io = new InterruptedIOException("interrupted while " + what);
    io.initCause(e);
    return io;
  }

  S3Client s3() {
    return s3;
  }

  S3Location location() {
    return location;
  }

  S3Settings settings() {
    return settings;
  }

  ExecutorService pool() {
    return pool;
  }

  /** The store and its endpoint, for messages. */
  String where() {
    return where;
  }

  boolean isClosed() {
    return closed.get();
  }

  void ensureOpen() {
    if (closed.get()) {
      throw new IllegalStateException(where + " is closed");
    }
  }

  @Override
  public ChunkStore chunks() {
    return chunks;
  }

  /** The records of this store: objects under its prefix (see {@link S3RecordStore}). */
  @Override
  public RecordStore records() {
    return records;
  }

  @Override
  public RefStore refs() {
    return refs;
  }

  /** {@code s3://bucket/prefix}. */
  @Override
  public Optional<String> markerId() {
    return markerId;
  }

  @Override
  public String uri() {
    return location.uri();
  }

  @Override
  public void close() throws IOException {
    if (closed.compareAndSet(false, true)) {
      pool.shutdownNow();
      try {
        pool.awaitTermination(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        s3.close();
      }
    }
  }

  @Override
  public String toString() {
    return "S3Backend[" + where + "]";
  }
}
