package io.ferry.server.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.limits.Limits;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The tokens of a server, kept in one JSON file that holds only a salted SHA-256 of each token, never the token.
 *
 * <p>A token is {@code fry_<id>_<secret>} (clients that insist on Hugging Face's {@code hf_} prefix may send {@code
 * hf_fry_<id>_<secret>}): a 48-bit random id (12 hex digits, not secret, used to find the entry) and a
 * 256-bit random secret (43 base64url characters). Because the secret is uniformly random over 2^256 values, nobody
 * can guess it or invert its hash, so one SHA-256 is enough; a slow password hash (bcrypt, scrypt) only protects
 * secrets that people choose and that can be guessed. The per-token salt keeps two files from sharing hashes. Hashes
 * are compared in constant time ({@link MessageDigest#isEqual}).
 *
 * <p>Writes ({@link #create}, {@link #revoke}) take a lock on {@code FILE.lock}, write a temporary file with owner-only
 * permissions (rw-------) next to the file, force it to disk and rename it over the file atomically, so a reader sees
 * the old or the new file, whole. A server reads the file again when it changes ({@link #authenticate} compares the
 * file's inode, size and modification time on every request: one {@code stat}), so a revocation takes effect on the
 * next request, without a restart.
 *
 * <p>Thread-safe.
 */
public final class TokenFile {
  private static final String FORMAT = "ferry-tokens";
  private static final String PREFIX = "fry_";
  private static final String HF_PREFIX = "hf_";
  private static final HexFormat HEX = HexFormat.of();
  private static final ObjectMapper JSON = Limits.jsonMapper();
  /** Longest token name, in characters. */
  public static final int MAX_NAME_CHARS = 256;
  /** Largest tokens file read: a few hundred bytes a token, so some tens of thousands of tokens. */
  private static final int MAX_FILE_BYTES = 16 << 20;

  /**
   * One token as stored: no secret, only its salted hash.
   *
   * @param id the token's public id (12 hex digits)
   * @param name a name for people and logs
   * @param salt 16 random bytes
   * @param sha256 SHA-256 of the salt followed by the token's UTF-8 bytes
   * @param scopes what the token allows
   * @param created when it was created
   */
  public record Entry(String id, String name, byte[] salt, byte[] sha256, List<Scope> scopes, Instant created) {
    public Entry {
      Objects.requireNonNull(id, "id");
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(created, "created");
      if (!id.matches("[0-9a-f]{12}")) {
        throw new IllegalArgumentException("token id '" + id + "' is not 12 hex digits");
      }
      if (salt.length != 16 || sha256.length != 32) {
        throw new IllegalArgumentException("token " + id + ": salt of " + salt.length + " bytes and hash of "
            + sha256.length + " bytes, expected 16 and 32");
      }
      scopes = List.copyOf(scopes);
      if (scopes.isEmpty()) {
        throw new IllegalArgumentException("token " + id + " has no scope");
      }
      salt = salt.clone();
      sha256 = sha256.clone();
    }
  }

  /**
   * A token just made: the secret token text (shown once) and its stored entry.
   *
   * @param token the bearer token; it is stored nowhere
   */
  public record Created(String token, Entry entry) {}

  private final Path file;
  private volatile Loaded loaded;

  private record Loaded(Object key, long size, Instant modified, Map<String, Entry> byId) {}

  /** The tokens in {@code file}, read now and again whenever the file changes. */
  public static TokenFile open(Path file) throws IOException {
    TokenFile t = new TokenFile(file);
    t.current();
    return t;
  }

  private TokenFile(Path file) {
    this.file = file;
  }

  public Path path() {
    return file;
  }

  /**
   * The access a bearer token gives, or empty if the token is not one of the file's (unknown, revoked, malformed).
   *
   * @throws IOException if the file cannot be read (the server then refuses every request: it fails closed)
   */
  public Optional<Access> authenticate(String bearer) throws IOException {
    Map<String, Entry> byId = current().byId();
    // Hugging Face's JavaScript client sends only tokens that start with hf_: hf_fry_... is the same token
    String token = bearer != null && bearer.startsWith(HF_PREFIX + PREFIX) ? bearer.substring(HF_PREFIX.length())
        : bearer;
    if (token == null || !token.startsWith(PREFIX) || token.length() > 100) {
      return Optional.empty();
    }
    String id = token.length() > PREFIX.length() + 12 ? token.substring(PREFIX.length(), PREFIX.length() + 12) : "";
    Entry e = byId.get(id);
    if (e == null) {
      return Optional.empty();
    }
    byte[] actual = hash(e.salt(), token);
    if (!MessageDigest.isEqual(actual, e.sha256())) {
      return Optional.empty();
    }
    return Optional.of(new Access(e.name(), e.scopes(), false));
  }

  /** The entries as the file holds them now, by creation. */
  public List<Entry> entries() throws IOException {
    return new ArrayList<>(current().byId().values());
  }

  private Loaded current() throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(file, BasicFileAttributes.class);
    } catch (NoSuchFileException e) {
      throw missing(file);
    }
    Loaded l = loaded;
    Object key = a.fileKey();
    if (l != null && Objects.equals(l.key(), key) && l.size() == a.size()
        && l.modified().equals(a.lastModifiedTime().toInstant())) {
      return l;
    }
    synchronized (this) {
      Map<String, Entry> byId = read(file);
      l = new Loaded(key, a.size(), a.lastModifiedTime().toInstant(), byId);
      loaded = l;
      return l;
    }
  }

  /**
   * Makes a token, adds its hash to {@code file} (created if absent) and returns the token.
   *
   * @throws IllegalArgumentException if there is no scope, or the name could be taken for a token id (12 hex
   *     digits: {@link #revoke} would remove both), is longer than {@value #MAX_NAME_CHARS} characters or holds a
   *     control or format character (a line break in an access log)
   */
  public static Created create(Path file, String name, List<Scope> scopes, Clock clock, SecureRandom random)
      throws IOException {
    if (scopes.isEmpty()) {
      throw new IllegalArgumentException("a token needs at least one --scope (read:PATTERN, write:PATTERN, admin)");
    }
    byte[] idBytes = new byte[6];
    byte[] secret = new byte[32];
    byte[] salt = new byte[16];
    random.nextBytes(idBytes);
    random.nextBytes(secret);
    random.nextBytes(salt);
    String id = HEX.formatHex(idBytes);
    String token = PREFIX + id + "_" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    String n = name == null || name.isBlank() ? "token-" + id : checkName(name);
    Entry e = new Entry(id, n, salt, hash(salt, token), scopes, clock.instant().truncatedTo(
        java.time.temporal.ChronoUnit.SECONDS));
    checkKind(file); // before update makes FILE.lock next to it
    update(file, entries -> {
      if (entries.values().stream().anyMatch(x -> x.name().equals(n))) {
        throw new IllegalArgumentException("a token named '" + n + "' exists in " + file + "; revoke it first or"
            + " choose another --name");
      }
      entries.put(id, e);
      return entries;
    });
    return new Created(token, e);
  }

  /**
   * The entries of {@code file}.
   *
   * @throws NoSuchFileException if there is no such file (a mistyped path is not a file without tokens)
   */
  public static List<Entry> list(Path file) throws IOException {
    if (Files.notExists(file)) {
      throw missing(file);
    }
    return new ArrayList<>(read(file).values());
  }

  /**
   * Removes the token with this id or name.
   *
   * @return the removed entry, or empty if none had that id or name
   * @throws NoSuchFileException if there is no such file (none is created)
   */
  public static Optional<Entry> revoke(Path file, String idOrName) throws IOException {
    if (Files.notExists(file)) {
      throw missing(file);
    }
    checkKind(file);
    Entry[] removed = new Entry[1];
    update(file, entries -> {
      for (Entry e : List.copyOf(entries.values())) {
        if (e.id().equals(idOrName) || e.name().equals(idOrName)) {
          entries.remove(e.id());
          removed[0] = e;
        }
      }
      return entries;
    });
    return Optional.ofNullable(removed[0]);
  }

  private static byte[] hash(byte[] salt, String token) {
    MessageDigest md = io.ferry.id.ChunkId.sha256();
    md.update(salt);
    md.update(token.getBytes(StandardCharsets.UTF_8));
    return md.digest();
  }

  // ------------------------------------------------------------------------------------------------ file format

  private static Map<String, Entry> read(Path file) throws IOException {
    checkKind(file);
    JsonNode root;
    try (java.io.InputStream in = Files.newInputStream(file)) {
      byte[] bytes = in.readNBytes(MAX_FILE_BYTES + 1);
      if (bytes.length > MAX_FILE_BYTES) {
        throw new io.ferry.error.InvalidInputException("tokens file " + file + " is larger than " + MAX_FILE_BYTES
            + " bytes, far more than a tokens file holds; is it the right file?");
      }
      root = JSON.readTree(bytes);
    } catch (NoSuchFileException e) {
      return new java.util.LinkedHashMap<>();
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException("tokens file " + file + " is not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !FORMAT.equals(root.path("format").asText()) || root.path("version").asInt() != 1
        || !root.path("tokens").isArray()) {
      throw new IOException("tokens file " + file + " is not a Ferry tokens file (expected {\"format\": \"" + FORMAT
          + "\", \"version\": 1, \"tokens\": [...]})");
    }
    Map<String, Entry> out = new java.util.LinkedHashMap<>();
    for (JsonNode t : root.get("tokens")) {
      try {
        List<Scope> scopes = new ArrayList<>();
        for (JsonNode s : t.path("scopes")) {
          scopes.add(Scope.parse(s.asText()));
        }
        Entry e = new Entry(t.path("id").asText(), t.path("name").asText(), HEX.parseHex(t.path("salt").asText()),
            HEX.parseHex(t.path("sha256").asText()), scopes, Instant.parse(t.path("created").asText()));
        out.put(e.id(), e);
      } catch (RuntimeException e) {
        throw new IOException("tokens file " + file + ": entry " + t.path("id") + " is invalid: " + e.getMessage());
      }
    }
    return out;
  }

  /** Refuses a directory, a device, a FIFO or a socket: /dev/zero never ends, a FIFO blocks until someone writes. */
  private static void checkKind(Path file) throws io.ferry.error.InvalidInputException {
    if (Files.isDirectory(file)) {
      throw new io.ferry.error.InvalidInputException("tokens file " + file + " is a directory, not a tokens file");
    }
    if (Files.exists(file) && !Files.isRegularFile(file)) {
      throw new io.ferry.error.InvalidInputException("tokens file " + file + " is not a regular file (a device, FIFO"
          + " or socket); name a file");
    }
  }

  private static NoSuchFileException missing(Path file) {
    return new NoSuchFileException(file.toString(), null, "tokens file does not exist (create one with ferry token"
        + " create --tokens " + file + ")");
  }

  private static String checkName(String name) {
    if (name.length() > MAX_NAME_CHARS) {
      throw new IllegalArgumentException("token name is " + name.length() + " characters long, more than "
          + MAX_NAME_CHARS);
    }
    if (name.matches("[0-9a-f]{12}")) {
      throw new IllegalArgumentException("token name '" + name + "' is 12 hex digits, the form of a token id:"
          + " ferry token revoke would take it for another token's id; choose another --name");
    }
    for (int i = 0; i < name.length(); i++) {
      int type = Character.getType(name.charAt(i));
      if (type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
          || type == Character.PARAGRAPH_SEPARATOR) {
        throw new IllegalArgumentException(String.format("token name has a control or format character (U+%04X)"
            + " at index %d: names are printed in logs and listings; choose another --name", (int) name.charAt(i),
            i));
      }
    }
    return name;
  }

  private static byte[] write(Map<String, Entry> entries) throws IOException {
    ObjectNode root = JSON.createObjectNode().put("format", FORMAT).put("version", 1);
    ArrayNode arr = root.putArray("tokens");
    for (Entry e : entries.values()) {
      ObjectNode t = arr.addObject().put("id", e.id()).put("name", e.name()).put("salt", HEX.formatHex(e.salt()))
          .put("sha256", HEX.formatHex(e.sha256()));
      ArrayNode s = t.putArray("scopes");
      e.scopes().forEach(x -> s.add(x.toString()));
      t.put("created", e.created().toString());
    }
    return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
  }

  @FunctionalInterface
  private interface Change {
    Map<String, Entry> apply(Map<String, Entry> entries) throws IOException;
  }

  private static void update(Path file, Change change) throws IOException {
    Path abs = file.toAbsolutePath();
    Path dir = abs.getParent();
    Files.createDirectories(dir);
    Path lockFile = dir.resolve(abs.getFileName() + ".lock");
    try (FileChannel lock = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock held = lock.lock()) {
      byte[] bytes = write(change.apply(read(abs)));
      Path tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
      try {
        try (FileChannel out = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
            ownerOnly(dir))) {
          java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
          while (b.hasRemaining()) {
            out.write(b);
          }
          out.force(true);
        }
        try {
          Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
          throw new IOException("cannot replace tokens file " + abs + " atomically: " + e.getMessage(), e);
        }
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (FileAlreadyExistsException e) {
      throw new IOException("temporary file next to tokens file " + abs + " exists: " + e.getMessage(), e);
    }
  }

  private static FileAttribute<?>[] ownerOnly(Path dir) {
    if (!dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return new FileAttribute<?>[0];
    }
    Set<PosixFilePermission> perms = PosixFilePermissions.fromString("rw-------");
    return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(perms)};
  }
}
