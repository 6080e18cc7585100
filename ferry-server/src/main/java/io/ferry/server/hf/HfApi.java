package io.ferry.server.hf;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.chunk.Frame;
import io.ferry.id.ChunkId;
import io.ferry.read.ChunkReader;
import io.ferry.read.Location;
import io.ferry.read.Locator;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.http.ByteRange;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.MemoryBudget;
import io.ferry.server.http.Route;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The read side of the Hugging Face Hub's HTTP API over Ferry's models, so that {@code HF_ENDPOINT=http://ferry:8080}
 * makes {@code huggingface_hub}, transformers, vLLM and the JavaScript clients load from Ferry:
 *
 * <ul>
 *   <li>{@code GET|HEAD /{model}/resolve/{revision}/{path}}: the file, with {@code Range}, {@code ETag} and {@code
 *       X-Linked-Etag} (the file's SHA-256, what the Hub calls its LFS oid), {@code X-Linked-Size} and {@code
 *       X-Repo-Commit} (the version id); no redirect (but for a renamed model).
 *   <li>{@code GET /api/models/{model}} and {@code /api/models/{model}/revision/{revision}}: the model's files
 *       ({@code siblings} with {@code rfilename}, {@code size} and {@code lfs}).
 *   <li>{@code GET /api/models/{model}/tree/{revision}[/{path}]}: the files and directories under a path.
 *   <li>{@code POST /api/models/{model}/paths-info/{revision}}: the files and directories among given paths.
 *   <li>{@code GET /api/models/{model}/refs} and {@code /api/models/{model}/commits/{revision}}: the head and tags,
 *       the history.
 *   <li>{@code GET /v2/}: the registry ping, 200 {@code {}}.
 *   <li>{@code GET /v2/{org}/{name}/manifests/{tag}}: the GGUF file a quantization tag names ({@link GgufTags}).
 * </ul>
 *
 * A model renamed by {@code ferry mv} answers 307 to the same path under its present name, as the Hub does for a
 * renamed repository. A revision is {@code main} (the model's head), a tag or a version id ({@link Revisions}). A
 * model name may hold one {@code /} ({@code org/name}). File bytes come chunk by chunk through core's verified read path (SHA-256 checked),
 * one chunk in memory at a time within the server's {@link MemoryBudget}.
 */
public final class HfApi implements Route {
  /** The largest paths-info form read, and the most paths it may name. */
  private static final long MAX_FORM = 1 << 20;
  private static final int MAX_PATHS = 10_000;
  /** The versions a page of {@code commits} lists. */
  private static final int COMMITS_PAGE = 100;
  /** The last page of {@code commits} served (the first 100,000 versions of a history). */
  private static final int MAX_COMMIT_PAGE = 999;
  /**
   * The longest a chunk of a file waits for its share of the memory budget before the request is answered 429 with
   * {@code Retry-After}: half of huggingface_hub's default download timeout (10 s), so that the client hears it and
   * asks again, where after the budget's own wait (30 s) it had timed out and asked again already while the server
   * still kept its place among the waiting requests and then sent the file to nobody.
   */
  static final long SHARE_WAIT_MILLIS = 5_000;

  private final Repository repo;
  private final MemoryBudget budget;
  private final String publicUrl;

  /**
   * @param publicUrl the server as its clients reach it, without a final '/', for the absolute URLs this API builds
   *     (the {@code Link} of {@code commits}); null to build them from each request
   */
  public HfApi(Repository repo, MemoryBudget budget, String publicUrl) {
    this.repo = repo;
    this.budget = budget;
    this.publicUrl = publicUrl;
  }

  /** huggingface_hub encodes the slashes of a revision ({@code refs/pr/1}) and of a tree path into one segment. */
  @Override
  public boolean takesEncodedSlashes() {
    return true;
  }

  /**
   * Whether a path (its segments as {@link Exchange#segmentsKeepingEncodedSlashes} gives them) is one of this API's,
   * whose errors carry the Hub's {@code X-Error-Code}s: so the server answers a request without a token there as the
   * Hub answers one for a private repository, 401 {@code RepoNotFound}.
   */
  public static boolean claims(List<String> s) {
    return s.size() >= 3 && s.get(0).equals("api") && s.get(1).equals("models") || resolveAt(s) > 0
        || otherRepoType(s) != null || isManifest(s);
  }

  /** Whether a path is {@code /v2/{org}/{name}/manifests/{tag}}, the Hub's manifest of a GGUF model's file. */
  private static boolean isManifest(List<String> s) {
    return s.size() == 5 && s.get(0).equals("v2") && s.get(3).equals("manifests") && !hasSlash(s.get(1))
        && !hasSlash(s.get(2));
  }

  /**
   * {@code dataset} or {@code space} for the Hub's paths of those repository types ({@code /api/datasets/...}, {@code
   * /datasets/{org}/{name}/resolve/...}), which Ferry does not hold; null for any other path.
   */
  private static String otherRepoType(List<String> s) {
    boolean api = s.size() >= 3 && s.get(0).equals("api");
    String kind = api ? s.get(1) : s.size() >= 5 && s.get(3).equals("resolve") && resolveAt(s) < 0 ? s.get(0) : "";
    return kind.equals("datasets") || kind.equals("spaces") ? kind.substring(0, kind.length() - 1) : null;
  }

  /**
   * The index of {@code resolve} in a {@code /{model}/resolve/{revision}/{path}} path, or -1. A path without a file
   * ({@code /{model}/resolve/{revision}/}) is one too, answered as a missing file ({@code EntryNotFound}).
   */
  private static int resolveAt(List<String> s) {
    int at = s.size() >= 3 && s.get(1).equals("resolve") ? 1 : s.size() >= 4 && s.get(2).equals("resolve") ? 2 : -1;
    return at > 0 && s.subList(0, at).stream().noneMatch(HfApi::hasSlash) ? at : -1;
  }

  @Override
  public boolean handle(Exchange ex) throws HttpError, IOException, InterruptedException {
    try {
      return dispatch(ex);
    } catch (Renamed r) {
      ex.set(HttpHeader.LOCATION, r.location);
      ex.json(307, Exchange.JSON.createObjectNode().put("message", r.getMessage()));
      return true;
    } catch (HttpError e) {
      if (e.status() == 503 && e.code().equals("busy")) {
        // huggingface_hub retries a download answered 429 (after Retry-After), never one answered 503
        throw new HttpError(429, e.code(), e.getMessage());
      }
      throw e;
    }
  }

  private boolean dispatch(Exchange ex) throws HttpError, IOException, InterruptedException {
    List<String> s = ex.segmentsKeepingEncodedSlashes();
    if (s.size() == 2 && s.get(0).equals("api") && (s.get(1).equals("whoami-v2") || s.get(1).equals("models"))) {
      if (!ex.method().equals("GET") && !ex.isHead()) {
        throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD");
      }
      if (s.get(1).equals("models")) {
        listModels(ex);
      } else {
        whoami(ex);
      }
      return true;
    }
    if (s.size() >= 3 && s.get(0).equals("api") && s.get(1).equals("models")) {
      api(ex, s.subList(2, s.size()));
      return true;
    }
    if (s.size() == 1 && s.get(0).equals("v2")) {
      // the registry ping (the Distribution API's base endpoint), which a client of the manifests below may send
      // first: answered as a registry answers it; a request without a token got the 401 before it came here
      if (!ex.method().equals("GET") && !ex.isHead()) {
        throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD");
      }
      ex.set("Docker-Distribution-API-Version", "registry/2.0");
      ex.json(200, Exchange.JSON.createObjectNode());
      return true;
    }
    if (isManifest(s)) {
      if (!ex.method().equals("GET") && !ex.isHead()) {
        throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD");
      }
      manifest(ex, s.get(1) + "/" + s.get(2), s.get(4));
      return true;
    }
    String other = otherRepoType(s);
    if (other != null) {
      // huggingface_hub raises RepositoryNotFoundError for this (a 404 without the code read as a network failure)
      int from = s.get(0).equals("api") ? 2 : 1; // the repository's name: {org}/{name} after the type
      String name = String.join("/", s.subList(from, Math.min(s.size(), from + 2)));
      throw new HttpError(404, "RepoNotFound", "this server holds models only, no " + other + " ('"
          + Exchange.clip(name) + "'): use repo_type=\"model\"");
    }
    int at = resolveAt(s);
    if (at < 0) {
      return false;
    }
    if (s.subList(at + 2, s.size()).stream().anyMatch(HfApi::hasSlash)) {
      ex.segments(); // 400: clients send a file path's slashes as they are; only the revision holds encoded ones
    }
    String model = String.join("/", s.subList(0, at));
    String revision = s.get(at + 1);
    String path = String.join("/", s.subList(at + 2, s.size()));
    if (!path.isEmpty() && ex.rawPath().endsWith("/")) {
      path += "/"; // a directory of that name, which no version holds as a file: it served the file
    }
    if (!ex.method().equals("GET") && !ex.isHead()) {
      throw HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD");
    }
    resolveFile(ex, model, revision, path);
    return true;
  }

  // ------------------------------------------------------------------------------------------------- /api/models

  private void api(Exchange ex, List<String> rest) throws HttpError, IOException, InterruptedException {
    if (ex.method().equals("POST") && rest.size() >= 3 && rest.get(rest.size() - 2).equals("paths-info")) {
      // {model}/paths-info/{rev}: the model is what comes before
      pathsInfo(ex, String.join("/", rest.subList(0, rest.size() - 2)), rest.get(rest.size() - 1));
      return;
    }
    if (!ex.method().equals("GET") && !ex.isHead()) {
      boolean form = rest.size() >= 3 && rest.get(rest.size() - 2).equals("paths-info");
      throw form ? HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "POST")
          : HttpError.methodNotAllowed(ex.method(), ex.rawPath(), "GET", "HEAD");
    }
    // {model} | {model}/revision/{rev} | {model}/tree/{rev}[/{path}] | {model}/refs | {model}/commits/{rev}; a model
    // is one or two segments, neither with an encoded '/'
    for (int n = 1; n <= Math.min(2, rest.size()) && !hasSlash(rest.get(n - 1)); n++) {
      String model = String.join("/", rest.subList(0, n));
      List<String> tail = rest.subList(n, rest.size());
      if (tail.isEmpty()) {
        info(ex, model, Revisions.MAIN);
        return;
      }
      if (tail.size() == 2 && tail.get(0).equals("revision")) {
        info(ex, model, tail.get(1));
        return;
      }
      if (tail.size() >= 2 && tail.get(0).equals("tree")) {
        tree(ex, model, tail.get(1), String.join("/", tail.subList(2, tail.size())));
        return;
      }
      // {a}/refs is also the info of a model named a/refs: that model's when there is one the token may read
      if (tail.size() == 1 && tail.get(0).equals("refs")
          && !(n == 1 && isReadableModel(ex, String.join("/", rest)))) {
        refs(ex, model);
        return;
      }
      if (tail.size() == 2 && tail.get(0).equals("commits")) {
        commits(ex, model, tail.get(1));
        return;
      }
    }
    // with the Hub's codes, which clients turn into their typed errors: under a model the token may read the path
    // names a missing entry, else no model (as for a model that does not exist, whether or not one does)
    boolean model = false;
    for (int n = Math.min(2, rest.size()); n >= 1 && !model; n--) {
      model = rest.subList(0, n).stream().noneMatch(HfApi::hasSlash)
          && isReadableModel(ex, String.join("/", rest.subList(0, n)));
    }
    throw new HttpError(404, model ? "EntryNotFound" : "RepoNotFound", "no such Hugging Face API path: "
        + Exchange.clip(ex.rawPath()));
  }

  /**
   * The version a revision names. A revision that no ref could have (not a tag name, say {@code v1+x}) is answered as
   * the Hub answers a revision it lacks, 404 {@code RevisionNotFound} ({@code RepoNotFound} without the model), which
   * clients turn into their own errors ({@code revision_exists} says false); it was a 400 {@code bad-revision}.
   */
  private VersionRef version(Exchange ex, String model, String revision) throws HttpError, IOException {
    requireRead(ex, model);
    try {
      return Revisions.resolve(repo, ex.access(), model, revision);
    } catch (HttpError e) {
      if (e.code().equals("RepoNotFound")) {
        redirectIfRenamed(ex, model);
      }
      if (!e.code().equals("bad-revision")) {
        throw e;
      }
      Revisions.resolve(repo, ex.access(), model, Revisions.MAIN); // RepoNotFound when there is no such model
      throw new HttpError(404, "RevisionNotFound", "model '" + model + "' has no revision '" + Exchange.clip(revision)
          + "': " + e.getMessage());
    }
  }

  private void info(Exchange ex, String model, String revision) throws HttpError, IOException {
    requireRead(ex, model);
    VersionRef v = version(ex, model, revision);
    Snapshot snap = repo.snapshot(v);
    ObjectNode o = Exchange.JSON.createObjectNode();
    o.put("_id", v.id().hex()).put("id", model).put("modelId", model).put("sha", v.id().hex())
        .put("lastModified", v.version().time().toString()).put("private", false).put("disabled", false)
        .put("gated", false).put("downloads", 0).put("likes", 0);
    int slash = model.indexOf('/');
    if (slash > 0) {
      o.put("author", model.substring(0, slash));
    }
    o.putArray("tags");
    ArrayNode sib = o.putArray("siblings");
    for (FileEntry f : snap.files()) {
      sibling(sib.addObject(), f);
    }
    o.put("usedStorage", snap.logicalBytes());
    ex.json(200, o);
  }

  /**
   * {@code GET /api/whoami-v2}: the token's name and whether it may write, as the Hub describes a user's access token,
   * which {@code huggingface_hub}'s {@code login()}, {@code whoami()} and {@code hf auth whoami} read. The name is the
   * token's (its access-log name); a development server answers {@code dev}.
   */
  private void whoami(Exchange ex) throws IOException {
    String who = ex.access().who();
    ObjectNode o = Exchange.JSON.createObjectNode().put("type", "user").put("id", who).put("name", who)
        .put("fullname", who).put("isPro", false);
    o.putArray("orgs");
    o.putObject("auth").put("type", "access_token").putObject("accessToken").put("displayName", who)
        .put("role", ex.access().canWriteAny() ? "write" : "read");
    ex.json(200, o);
  }

  /**
   * {@code GET /api/models}: the models the token may read, as the Hub lists models ({@code list_models}): by name,
   * {@code search} a case-insensitive part of the name, {@code author} the part before its '/', {@code limit} at most
   * that many. Ferry's models carry no Hub tags, so a {@code filter} (tags: a library, a task) matches none.
   */
  private void listModels(Exchange ex) throws HttpError, IOException {
    String search = ex.query("search");
    String author = ex.query("author");
    String filter = ex.query("filter");
    String limitText = ex.query("limit");
    long limit = Long.MAX_VALUE;
    if (limitText != null) {
      // ASCII digits only (Long.parseLong takes a sign and other scripts' digits); more than a long holds is no limit
      try {
        limit = limitText.matches("[0-9]+") ? Long.parseLong(limitText) : -1;
      } catch (NumberFormatException e) {
        limit = Long.MAX_VALUE;
      }
      if (limit < 1) {
        throw new HttpError(400, "bad-request", "limit must be a whole number from 1, got '"
            + Exchange.clip(limitText) + "'");
      }
    }
    ArrayNode out = Exchange.JSON.createArrayNode();
    if (filter == null || filter.isEmpty()) {
      for (io.ferry.repo.Results.ModelSummary m : repo.models()) {
        String name = m.model();
        int slash = name.indexOf('/');
        if (out.size() >= limit) {
          break;
        }
        if (!ex.access().canRead(name) || m.head() == null
            || search != null && !name.toLowerCase(java.util.Locale.ROOT).contains(
                search.toLowerCase(java.util.Locale.ROOT))
            || author != null && !(slash > 0 && name.substring(0, slash).equals(author))) {
          continue;
        }
        ObjectNode o = out.addObject().put("_id", m.head().hex()).put("id", name).put("modelId", name)
            .put("sha", m.head().hex()).put("private", false).put("downloads", 0).put("likes", 0);
        if (slash > 0) {
          o.put("author", name.substring(0, slash));
        }
        o.putArray("tags");
      }
    }
    ex.json(200, out);
  }

  private void tree(Exchange ex, String model, String revision, String under) throws HttpError, IOException {
    requireRead(ex, model);
    VersionRef v = version(ex, model, revision);
    boolean recursive = "true".equals(ex.query("recursive"));
    String dir = under.endsWith("/") ? under.substring(0, under.length() - 1) : under;
    String prefix = dir.isEmpty() ? "" : dir + "/";
    ArrayNode out = Exchange.JSON.createArrayNode();
    TreeSet<String> dirs = new TreeSet<>();
    boolean any = false;
    for (FileEntry f : repo.snapshot(v).files()) {
      if (!f.path().startsWith(prefix)) {
        continue;
      }
      any = true;
      String rest = f.path().substring(prefix.length());
      int slash = rest.indexOf('/');
      if (slash >= 0) {
        // every directory on the way (recursive) or the first one below the path
        String[] parts = rest.split("/");
        int depth = recursive ? parts.length - 1 : 1;
        StringBuilder d = new StringBuilder(prefix);
        for (int i = 0; i < depth; i++) {
          d.append(i == 0 ? "" : "/").append(parts[i]);
          dirs.add(d.toString());
        }
        if (!recursive) {
          continue;
        }
      }
      ObjectNode e = out.addObject().put("type", "file").put("oid", pointerBlobId(f)).put("size", f.size())
          .put("path", f.path());
      lfs(e, f);
    }
    if (!any) {
      ex.set("X-Repo-Commit", v.id().hex());
      throw new HttpError(404, "EntryNotFound", "version " + v.id().shortHex(12) + " of model '" + model
          + "' has no file or directory '" + dir + "'");
    }
    for (String d : dirs) {
      out.addObject().put("type", "directory").put("oid", "").put("size", 0).put("path", d);
    }
    ex.json(200, out);
  }

  /**
   * Refuses a token that may not read {@code model} before anything tells whether the model exists: 403 {@code
   * GatedRepo} with the reason in {@code X-Error-Message}, the Hub's answer to a token without access to a gated
   * repository, for which huggingface_hub raises {@code GatedRepoError} (without a code, {@code hf_hub_download}
   * reported a 403 as a network failure, "cannot find the requested files in the local cache").
   */
  private static void requireRead(Exchange ex, String model) throws HttpError {
    try {
      ex.require(ex.access().canRead(model), "read access to model '" + model + "'");
    } catch (HttpError e) {
      throw new HttpError(e.status(), "GatedRepo", e.getMessage());
    }
  }

  /**
   * A model renamed since: {@link #handle} answers 307 to {@link #location}. A 404 {@code RepoNotFound} should it
   * reach the server's error handling.
   */
  private static final class Renamed extends HttpError {
    private final String location;

    Renamed(String model, String now, String location) {
      super(404, "RepoNotFound", "model '" + model + "' was renamed to '" + now + "' (ferry mv)");
      this.location = location;
    }
  }

  /** The most renames followed from a name to the model's present one. */
  private static final int MAX_RENAMES = 10;

  /**
   * For a model that {@code ferry mv} renamed (the last entry of its head's log deletes it with "mv OLD NEW"): 307 to
   * the same path under the present name, relative, as the Hub redirects the paths of a renamed repository (its
   * clients follow it). Renames in a row lead to the last name; nothing happens unless that model exists and the
   * token may read it.
   */
  private void redirectIfRenamed(Exchange ex, String model) throws HttpError, IOException {
    String now = model;
    for (int i = 0; i < MAX_RENAMES; i++) {
      List<RefLogEntry> log = repo.backend().refs().log(RefNames.head(now));
      String why = log.isEmpty() ? "" : log.get(log.size() - 1).why();
      String prefix = "mv " + now + " ";
      if (log.isEmpty() || log.get(log.size() - 1).newId() != null || !why.startsWith(prefix)) {
        break;
      }
      now = why.substring(prefix.length());
      if (isReadableModel(ex, now)) {
        // the path with the model's segments (as sent, so only when sent unencoded) replaced
        String raw = ex.rawPath();
        String old = "/" + model;
        int at = raw.startsWith("/api/models/") ? "/api/models".length() : raw.startsWith("/v2/") ? 3 : 0;
        int end = at + old.length();
        if (!raw.startsWith(old, at) || raw.length() > end && raw.charAt(end) != '/') {
          return;
        }
        String query = ex.request().getHttpURI().getQuery();
        throw new Renamed(model, now, raw.substring(0, at) + "/" + now + raw.substring(end)
            + (query == null ? "" : "?" + query));
      }
    }
  }

  private boolean isReadableModel(Exchange ex, String model) throws IOException {
    return ex.access().canRead(model) && repo.backend().refs().list(model + "/")
        .stream().anyMatch(r -> RefNames.isValidRef(r) && RefNames.modelOf(r).equals(model));
  }

  private static boolean hasSlash(String segment) {
    return segment.indexOf('/') >= 0;
  }

  /**
   * {@code GET /api/models/{model}/refs}, huggingface_hub's {@code list_repo_refs}: the head as the branch {@code
   * main} and every tag; a Ferry model has no pull requests or converted branches.
   */
  private void refs(Exchange ex, String model) throws HttpError, IOException {
    requireRead(ex, model);
    Map<ChunkId, List<String>> refs = repo.refsOf(model);
    if (refs.isEmpty()) {
      version(ex, model, Revisions.MAIN); // RepoNotFound
    }
    ObjectNode o = Exchange.JSON.createObjectNode();
    ArrayNode branches = o.putArray("branches");
    ArrayNode tags = o.putArray("tags");
    o.putArray("converts");
    o.putArray("pullRequests");
    for (Map.Entry<ChunkId, List<String>> e : refs.entrySet()) {
      for (String ref : e.getValue()) {
        int colon = ref.indexOf(':');
        String name = colon < 0 ? Revisions.MAIN : ref.substring(colon + 1);
        (colon < 0 ? branches : tags).addObject().put("name", name)
            .put("ref", (colon < 0 ? "refs/heads/" : "refs/tags/") + name).put("targetCommit", e.getKey().hex());
      }
    }
    ex.json(200, o);
  }

  /**
   * {@code GET /api/models/{model}/commits/{revision}[?p=N]}, huggingface_hub's {@code list_repo_commits}: the
   * versions {@code ferry log} lists from the revision, newest first, {@value #COMMITS_PAGE} a page (fewer with {@code
   * limit}), with a {@code Link} header ({@code rel="next"}) to the next page as the Hub paginates.
   */
  private void commits(Exchange ex, String model, String revision) throws HttpError, IOException {
    requireRead(ex, model);
    VersionRef v = version(ex, model, revision);
    int page = intQuery(ex, "p", 0, 0, MAX_COMMIT_PAGE);
    int size = intQuery(ex, "limit", COMMITS_PAGE, 1, COMMITS_PAGE);
    int skip = page * size;
    List<VersionRef> line = repo.log(model + "@" + v.id().hex(), skip + size + 1);
    ArrayNode out = Exchange.JSON.createArrayNode();
    for (VersionRef c : line.subList(Math.min(skip, line.size()), Math.min(skip + size, line.size()))) {
      String message = c.version().message();
      int nl = message.indexOf('\n');
      ObjectNode o = out.addObject().put("id", c.id().hex());
      o.putArray("authors").addObject().put("user", c.version().author());
      o.put("date", c.version().time().toString()).put("title", nl < 0 ? message : message.substring(0, nl))
          .put("message", nl < 0 ? "" : message.substring(nl + 1).strip());
    }
    if (line.size() > skip + size) {
      String limit = ex.query("limit") == null ? "" : "&limit=" + size;
      String here = publicUrl != null ? publicUrl + ex.rawPath()
          : ex.request().getHttpURI().asString().replaceFirst("\\?.*$", "");
      ex.set(HttpHeader.LINK, "<" + here + "?p=" + (page + 1) + limit + ">; rel=\"next\"");
    }
    ex.json(200, out);
  }

  /** A whole-number query parameter from {@code min} to {@code max}, {@code absent} when not given. */
  private static int intQuery(Exchange ex, String name, int absent, int min, int max) throws HttpError {
    String text = ex.query(name);
    if (text == null) {
      return absent;
    }
    // ASCII digits only: Integer.parseInt takes a sign and the digits of every script ("١" read as 1)
    if (!text.isEmpty() && text.length() <= 9 && text.chars().allMatch(c -> c >= '0' && c <= '9')) {
      int n = Integer.parseInt(text);
      if (n >= min && n <= max) {
        return n;
      }
    }
    throw new HttpError(400, "bad-request", name + "=" + Exchange.clip(text) + " is not a number from " + min + " to "
        + max);
  }

  /**
   * {@code POST /api/models/{model}/paths-info/{revision}} with a form of {@code paths} (repeated) and {@code expand}:
   * the files and directories among those paths (others left out, as the Hub does), the call behind
   * huggingface_hub's {@code get_paths_info} and its {@code HfFileSystem}.
   */
  private void pathsInfo(Exchange ex, String model, String revision) throws HttpError, IOException,
      InterruptedException {
    requireRead(ex, model);
    VersionRef v = version(ex, model, revision);
    List<String> paths = new java.util.ArrayList<>();
    for (Map.Entry<String, String> e : ex.formBody(MAX_FORM)) {
      if (e.getKey().equals("paths")) {
        paths.add(e.getValue());
      }
    }
    if (paths.size() > MAX_PATHS) {
      throw new HttpError(400, "bad-request", "paths-info asks for " + paths.size() + " paths, more than " + MAX_PATHS);
    }
    ArrayNode out = Exchange.JSON.createArrayNode();
    List<FileEntry> files = repo.snapshot(v).files();
    for (String asked : paths) {
      String path = asked.endsWith("/") ? asked.substring(0, asked.length() - 1) : asked;
      Optional<FileEntry> file = files.stream().filter(f -> f.path().equals(path)).findFirst();
      if (file.isPresent()) {
        FileEntry f = file.get();
        lfs(out.addObject().put("type", "file").put("oid", pointerBlobId(f)).put("size", f.size())
            .put("path", f.path()), f);
      } else if (!path.isEmpty() && files.stream().anyMatch(f -> f.path().startsWith(path + "/"))) {
        out.addObject().put("type", "directory").put("oid", "").put("size", 0).put("path", path);
      }
    }
    ex.json(200, out);
  }

  /**
   * {@code GET /v2/{org}/{name}/manifests/{tag}}: which GGUF file of the model's head a quantization tag names
   * ({@link GgufTags}), as the Hub answers llama.cpp's {@code -hf org/name:Q8_0} and node-llama-cpp's {@code
   * hf:org/name:Q8_0}: {@code {"ggufFile": {"rfilename", "size", "blobId", "lfs"}}} (the fields of a sibling in the
   * model's info), and {@code mmprojFile} as well when the model has a projector. The clients then download the file
   * from {@code /{org}/{name}/resolve/main/{rfilename}}. None of the Hub's container-image fields, which only Ollama
   * reads (with blobs Ferry does not serve).
   */
  private void manifest(Exchange ex, String model, String tag) throws HttpError, IOException {
    requireRead(ex, model);
    VersionRef v = version(ex, model, Revisions.MAIN);
    List<FileEntry> files = repo.snapshot(v).files();
    Optional<FileEntry> file = GgufTags.model(files, tag);
    ex.set("X-Repo-Commit", v.id().hex());
    if (file.isEmpty()) {
      throw new HttpError(404, "EntryNotFound", "version " + v.id().shortHex(12) + " of model '" + model + "' has "
          + (GgufTags.anyGguf(files) ? "no GGUF file for the tag '" + Exchange.clip(tag) + "' (a quantization such"
          + " as Q8_0, a file name, or latest)" : "no GGUF file"));
    }
    ObjectNode o = Exchange.JSON.createObjectNode();
    sibling(o.putObject("ggufFile"), file.get());
    GgufTags.projector(files, file.get()).ifPresent(p -> sibling(o.putObject("mmprojFile"), p));
    ex.json(200, o);
  }

  /** A file as the model info's {@code siblings} list it. */
  private static void sibling(ObjectNode e, FileEntry f) {
    e.put("rfilename", f.path()).put("size", f.size()).put("blobId", pointerBlobId(f));
    lfs(e, f).put("sha256", f.sha256());
  }

  /**
   * The {@code lfs} object of a file as the Hub gives it: every file is presented as stored in Git LFS, its oid the
   * file's SHA-256 (what clients check a download against) and {@code pointerSize} the length of the pointer file Git
   * would hold for it. huggingface_hub's {@code model_info} (and so {@code snapshot_download}) requires all three of
   * size, sha256 and pointerSize.
   */
  private static ObjectNode lfs(ObjectNode parent, FileEntry f) {
    return parent.putObject("lfs").put("oid", f.sha256()).put("size", f.size())
        .put("pointerSize", pointer(f).length);
  }

  /** The Git LFS pointer file of {@code f}, as {@code git lfs} writes it. */
  private static byte[] pointer(FileEntry f) {
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:" + f.sha256() + "\nsize " + f.size() + "\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  /** The Git blob id (SHA-1 of {@code "blob <length>\0"} and the content) of the file's LFS pointer. */
  private static String pointerBlobId(FileEntry f) {
    byte[] p = pointer(f);
    try {
      MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
      sha1.update(("blob " + p.length + "\0").getBytes(StandardCharsets.US_ASCII));
      return HexFormat.of().formatHex(sha1.digest(p));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-1", e);
    }
  }

  // ------------------------------------------------------------------------------------------------ /resolve/

  private void resolveFile(Exchange ex, String model, String revision, String path) throws HttpError, IOException,
      InterruptedException {
    requireRead(ex, model);
    VersionRef v = version(ex, model, revision);
    Optional<FileEntry> found = repo.snapshot(v).file(path);
    if (found.isEmpty()) {
      // as the Hub: the commit the file is missing from, which huggingface_hub caches (.no_exist/<commit>/<path>) so
      // that it does not ask again for an optional file (generation_config.json...) that a version lacks
      ex.set("X-Repo-Commit", v.id().hex());
      throw new HttpError(404, "EntryNotFound", path.isEmpty() ? "the path names no file after the revision ('"
          + Exchange.clip(revision) + "')" : "version " + v.id().shortHex(12) + " of model '" + model
          + "' has no file '" + path + "'");
    }
    FileEntry f = found.get();
    String etag = "\"" + f.sha256() + "\"";
    ex.set(HttpHeader.ETAG, etag);
    ex.set("X-Linked-Etag", etag);
    ex.set("X-Linked-Size", Long.toString(f.size()));
    ex.set("X-Repo-Commit", v.id().hex());
    ex.set(HttpHeader.ACCEPT_RANGES, "bytes");
    ex.set(HttpHeader.CONTENT_TYPE, "application/octet-stream");
    // only a revision that is the version's id names bytes that never change; a tag (of any length) moves
    boolean pinned = revision.equalsIgnoreCase(v.id().hex());
    ex.set(HttpHeader.CACHE_CONTROL, pinned ? ex.immutableCacheControl() : "no-cache");
    if (ex.noneMatch(etag)) {
      ex.notModified();
      return;
    }
    ByteRange range = ex.range(etag, f.size());
    long from = range == null ? 0 : range.first();
    long to = range == null ? f.size() : range.last() + 1;
    ex.response().setStatus(range == null ? 200 : 206);
    if (range != null) {
      ex.set(HttpHeader.CONTENT_RANGE, range.contentRange(f.size()));
    }
    ex.response().getHeaders().put(HttpHeader.CONTENT_LENGTH, to - from);
    if (ex.isHead() || to == from) {
      ex.write(true, ByteBuffer.allocate(0));
      return;
    }
    Locator locator = repo.objects().locator(v.version().packs());
    ChunkReader reader = repo.objects().reader();
    long at = 0;
    for (ChunkRef c : f.chunks()) {
      long start = at;
      long end = at + c.length();
      at = end;
      if (end <= from || start >= to) {
        continue;
      }
      long a = Math.max(from, start) - start;
      long b = Math.min(to, end) - start;
      boolean whole = a == 0 && b == c.length();
      Location loc = locator.locate(c.id());
      // the chunk's frame is read whole (a pack's index gives its length; a loose one is at most the chunk and its
      // header, and none when it streams uncoded) and decoded into the answer, or for a part decoded whole beside it;
      // once read, only the answer's bytes are held while they are sent
      long frame = loc.packed() ? loc.length() : c.length() + Frame.HEADER_LENGTH;
      try (MemoryBudget.Lease lease = budget.take((b - a) + frame + (whole ? 0 : c.length()), SHARE_WAIT_MILLIS)) {
        ByteBuffer dst = ByteBuffer.allocate((int) (b - a));
        reader.readRange(loc, c.length(), a, b, ChunkReader.Check.CONTENT, dst);
        lease.keepOnly(b - a);
        ex.writeHeld(start + b >= to, dst.flip());
      }
    }
  }
}
