package io.ferry.repo;

import io.ferry.objects.ObjectDatabase;

import io.ferry.id.ChunkId;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.MissingObjectException;
import io.ferry.error.NotFoundException;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefLogEntry;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.version.RefSpec;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/** Turns ref texts ({@code name}, {@code name:tag}, {@code name@prefix}) into versions. Thread-safe. */
final class Resolver {
  /** What {@link ObjectDatabase#kindOf} calls a version. */
  private static final String VERSION_KIND = "a " + io.ferry.version.ObjectJson.VERSION_FORMAT + " object";
  /** What it calls an object too big for it to read, which may be a version (a huge one), though rarely. */
  private static final String UNREAD_KIND = "a chunk of model data";
  private final ObjectDatabase db;
  private final RefStore refs;
  private final History history;
  private final String uri;

  Resolver(ObjectDatabase db, RefStore refs, History history, String uri) {
    this.db = db;
    this.refs = refs;
    this.history = history;
    this.uri = uri;
  }

  VersionRef resolve(String text) throws IOException {
    RefSpec spec = RefSpec.parse(text);
    if (spec.path() != null) {
      throw new InvalidInputException("'" + text + "' names a file (//" + spec.path() + "); a version is expected here: "
          + spec.refText());
    }
    return resolve(spec);
  }

  VersionRef resolve(RefSpec spec) throws IOException {
    if (spec.back() > 0) {
      return stepBack(spec);
    }
    if (spec.idPrefix() != null) {
      return resolvePrefix(spec);
    }
    Optional<ChunkId> id = refs.get(spec.refName());
    if (id.isEmpty()) {
      if (spec.tag() != null && refs.get(RefNames.head(spec.model())).isPresent()) {
        throw noTag(spec.model(), spec.tag());
      }
      List<String> tags = new ArrayList<>(tagNames(spec.model()));
      if (!tags.isEmpty()) {
        // tags without a head (the head removed, or a mv interrupted before it made the head): the model exists
        throw spec.tag() != null ? noTag(spec.model(), spec.tag()) : new NotFoundException("model '"
            + spec.model() + "' has no head, only tags (" + String.join(", ", tags.subList(0, Math.min(10,
            tags.size()))) + (tags.size() > 10 ? ", ..." : "") + "): name one, e.g. " + spec.model() + ":"
            + tags.get(0));
      }
      throw noModel(spec.model());
    }
    return new VersionRef(id.get(), db.version(id.get()));
  }

  /**
   * The version {@code spec.back()} steps back from the one the rest of {@code spec} names, along the history {@code
   * ferry log} lists (first parents within the model).
   */
  private VersionRef stepBack(RefSpec spec) throws IOException {
    RefSpec base = spec.withoutBack();
    List<VersionRef> line = history.firstParents(resolve(base), spec.back() + 1);
    if (line.size() <= spec.back()) {
      VersionRef oldest = line.get(line.size() - 1);
      List<ChunkId> parents = oldest.version().parents();
      throw new NotFoundException(spec.refText() + ": there " + (line.size() == 2 ? "is 1 version" : "are "
          + (line.size() - 1) + " versions") + " before " + base.refText() + " in the history of " + spec.model()
          + " (ferry log " + base.refText() + "), not " + spec.back() + (parents.isEmpty() ? ""
              : "; it continues in another model from " + parents.get(0).shortHex(12) + " (ferry lineage "
                  + base.refText() + ")"));
    }
    return line.get(spec.back());
  }

  private VersionRef resolvePrefix(RefSpec spec) throws IOException {
    String prefix = spec.idPrefix();
    if (prefix.length() == ChunkId.HEX_LENGTH) {
      ChunkId id = ChunkId.parse(prefix);
      try {
        var v = db.version(id);
        if (v.model().equals(spec.model())) {
          return new VersionRef(id, v);
        }
        // a version made under another name (the model was renamed since): the model's if its refs reach it
      } catch (MissingObjectException e) {
        throw new NotFoundException("model '" + spec.model() + "' has no version " + prefix);
      } catch (IOException e) {
        // the id of another kind of object (a chunk, a snapshot, a pack): not damage, a wrong id
        String kind = db.kindOf(id);
        if (kind != null && !kind.equals(VERSION_KIND)) {
          throw new NotFoundException("model '" + spec.model() + "' has no version " + prefix + ": that object is "
              + kind + ", not a version");
        }
        throw e;
      }
    }
    Set<ChunkId> matches = new TreeSet<>();
    Set<ChunkId> current = new HashSet<>();
    // the logs of deleted refs too: a removed model's versions stay readable by the ids its reflog prints
    for (String ref : loggedModelRefs(spec.model())) {
      refs.get(ref).ifPresent(current::add);
      for (RefLogEntry e : refs.log(ref)) {
        for (ChunkId id : new ChunkId[] {e.oldId(), e.newId()}) {
          if (id != null && id.hex().startsWith(prefix)) {
            matches.add(id);
          }
        }
      }
    }
    // a log may name only versions that gc has removed since (once their entries aged past the grace period): not
    // versions of the model any more, so "not found", not a missing object (one a ref points at now is damage, and
    // reading it reports the missing object)
    if (!matches.isEmpty() && Collections.disjoint(matches, current)
        && db.store().missing(new ArrayList<>(matches)).size() == matches.size()) {
      List<ChunkId> gone = new ArrayList<>(matches);
      if (historyMatches(spec.model(), prefix).isEmpty()) {
        throw new NotFoundException("model '" + spec.model() + "' has no version " + prefix + " any more: its ref"
            + " log names " + gone.get(0).shortHex(12) + (gone.size() > 1 ? " and " + (gone.size() - 1) + " more"
            : "") + ", which gc removed after the refs moved off it (ferry reflog shows when)");
      }
      matches.clear();
    }
    // the walks below read every version of the model, or of the store: asked first, the store's objects with the
    // prefix (a few, where the store can list them so) spare them when none is a version of the model; a prefix the
    // logs named needs neither
    Map<ChunkId, String> stored = matches.isEmpty() ? storedVersions(prefix) : Map.of();
    if (matches.isEmpty() && (stored == null || !Collections.disjoint(stored.values(), modelNames(spec.model())))) {
      matches = historyMatches(spec.model(), prefix);
    }
    boolean ownRefs = refs.get(RefNames.head(spec.model())).isPresent() || !tagNames(spec.model()).isEmpty();
    if (matches.isEmpty() && !ownRefs && (stored == null || stored.containsValue(spec.model()))) {
      // a mistyped id of a model with refs stays cheap: its history was all there was to search
      matches = reachedMatches(spec.model(), prefix);
    }
    if (matches.isEmpty() && !ownRefs) {
      throw noModel(spec.model());
    }
    if (matches.isEmpty() && prefix.length() == ChunkId.HEX_LENGTH) {
      throw new NotFoundException("model '" + spec.model() + "' has no version " + prefix);
    }
    if (matches.isEmpty()) {
      throw new NotFoundException("model '" + spec.model() + "' has no version starting with " + prefix);
    }
    if (matches.size() > 1) {
      StringBuilder b = new StringBuilder();
      for (ChunkId m : matches) {
        b.append(' ').append(m.shortHex(12));
      }
      throw new InvalidInputException("version prefix " + prefix + " of '" + spec.model() + "' is ambiguous:" + b);
    }
    ChunkId id = matches.iterator().next();
    return new VersionRef(id, db.version(id));
  }

  /**
   * The versions in the store whose id starts with {@code prefix}, each with the model it was made under, found
   * without reading any other version ({@link io.ferry.store.ChunkStore#listIds}). Null where the store cannot list
   * ids by prefix, or where one of the objects cannot be told apart (damaged, removed meanwhile, or too big for
   * {@link ObjectDatabase#kindOf} to read): the walks decide.
   */
  private Map<ChunkId, String> storedVersions(String prefix) throws IOException {
    List<ChunkId> ids = new ArrayList<>();
    if (!db.store().listIds(prefix, ids::add)) {
      return null;
    }
    Map<ChunkId, String> out = new java.util.HashMap<>();
    for (ChunkId id : ids) {
      String kind = db.kindOf(id);
      if (kind == null || kind.equals(UNREAD_KIND) && db.store().size(id) > ObjectDatabase.KIND_READ_LIMIT) {
        return null;
      }
      if (kind.equals(VERSION_KIND)) {
        try {
          out.put(id, db.version(id).model());
        } catch (IOException e) {
          return null;
        }
      }
    }
    return out;
  }

  /**
   * The names whose versions {@link History#ownVersions} counts as the model's: its own, and those its refs' versions
   * were made under (a model renamed by {@code mv}).
   */
  private Set<String> modelNames(String model) throws IOException {
    Set<String> names = new HashSet<>();
    names.add(model);
    for (String ref : modelRefs(model)) {
      Optional<ChunkId> tip = refs.get(ref);
      if (tip.isPresent()) {
        names.add(db.version(tip.get()).model());
      }
    }
    return names;
  }

  /**
   * Versions of {@code model} whose id starts with {@code prefix}, found by walking every parent from the model's refs
   * (within the model): for versions no ref log names, such as those a {@code copy} brought in with their history.
   */
  private Set<ChunkId> historyMatches(String model, String prefix) throws IOException {
    List<ChunkId> tips = new ArrayList<>();
    for (String ref : modelRefs(model)) {
      refs.get(ref).ifPresent(tips::add);
    }
    Set<ChunkId> matches = new TreeSet<>();
    for (ChunkId id : history.ownVersions(model, tips)) {
      if (id.hex().startsWith(prefix)) {
        matches.add(id);
      }
    }
    return matches;
  }

  /**
   * Versions made under the name {@code model} whose id starts with {@code prefix}, among all that the store's refs
   * reach: the version another model derives from, which a copy of that model brings into a store where no ref or
   * log of its own model names it, is reached only this way ({@code lineage} prints it as model and short id, as the
   * full id resolves it). Walks every ref's history, so it is asked only once the model's refs and logs named none;
   * a damaged or missing version on the way ends that branch of the walk, since the commands that read it report it
   * and a lookup of another name must not.
   */
  private Set<ChunkId> reachedMatches(String model, String prefix) throws IOException {
    // another ref's damage is for the commands that read it to report, as a damaged version's below
    Deque<ChunkId> todo = history.readableTips();
    Set<ChunkId> seen = new HashSet<>();
    Set<ChunkId> matches = new TreeSet<>();
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (!seen.add(id)) {
        continue;
      }
      Version v;
      try {
        v = db.version(id);
      } catch (CorruptObjectException | MissingObjectException e) {
        continue;
      }
      if (v.model().equals(model) && id.hex().startsWith(prefix)) {
        matches.add(id);
      }
      todo.addAll(v.parents());
    }
    return matches;
  }

  /** "no model 'lama' in store; did you mean 'llama'?", the suggestions taken from the models that exist. */
  NotFoundException noModel(String model) throws IOException {
    if (!loggedModelRefs(model).isEmpty()) {
      // removed (rm, or mv to another name): its logs remain, and so do its versions until gc takes them
      return new NotFoundException("no model '" + model + "' in " + uri + ": its refs were deleted (ferry reflog " + model
          + " shows when and why, by rm or mv; its versions stay readable as " + model + "@ID until gc removes them)");
    }
    return new NotFoundException("no model '" + model + "' in " + uri + Suggestions.didYouMean(model, modelNames()));
  }

  /** "model 'llama' has no tag 'prd'; did you mean 'prod'?", the suggestions taken from the model's tags. */
  NotFoundException noTag(String model, String tag) throws IOException {
    return new NotFoundException("model '" + model + "' has no tag '" + tag + "'"
        + Suggestions.didYouMean(tag, tagNames(model)));
  }

  /**
   * Refuses to start a model whose name differs only in case from one the store has: names compare exactly, but on
   * a case-insensitive file system (a local store on macOS or Windows) the two would share their refs. Refuses too a
   * new name that {@link RefNames#checkNewName} refuses.
   */
  void checkNoCaseTwin(String model) throws IOException {
    if (refs.get(RefNames.head(model)).isPresent()) {
      return;
    }
    RefNames.checkNewName("model", model);
    for (String other : modelNames()) {
      if (!other.equals(model) && other.equalsIgnoreCase(model)) {
        throw new InvalidInputException("model '" + model + "' differs only in case from '" + other + "' in " + uri
            + ": names are case-sensitive, but two that differ only in case cannot share a store (a case-insensitive"
            + " file system would mix their refs); push to '" + other + "' or choose another name");
      }
    }
  }

  /**
   * Refuses a new tag of {@code model} that differs only in case from one it has, as {@link #checkNoCaseTwin} does for
   * models (a case-insensitive file system would give both one log), or from the reserved {@code head}, or that
   * {@link RefNames#checkNewName} refuses. A tag that exists already (made before these checks) stays usable.
   */
  void checkNoTagCaseTwin(String model, String tag) throws IOException {
    if (tag == null || refs.get(RefNames.tag(model, tag)).isPresent()) {
      return;
    }
    RefNames.checkNewName("tag", tag);
    if (tag.equalsIgnoreCase(RefNames.HEAD)) {
      throw new InvalidInputException("'" + tag + "' differs only in case from 'head', which is reserved (the"
          + " model's head): choose another tag name");
    }
    if (ChunkId.isValid(tag.toLowerCase(java.util.Locale.ROOT))) {
      // where a revision is a tag or a version id (the Hugging Face endpoint, the Python client), it would be read
      // as the id it looks like
      throw new InvalidInputException("tag '" + tag + "' looks like a version id (64 hex digits), which a revision "
          + "could be taken for: choose another tag name");
    }
    for (String other : tagNames(model)) {
      if (!other.equals(tag) && other.equalsIgnoreCase(tag)) {
        throw new InvalidInputException("tag '" + tag + "' of '" + model + "' differs only in case from its tag '"
            + other + "': two tags that differ only in case cannot share a store (a case-insensitive file system"
            + " would mix their logs); move '" + other + "' or choose another name");
      }
    }
  }

  /** Whether the model has a head or a tag; a ref whose log is damaged counts as one (it may point somewhere). */
  boolean hasLiveRef(String model) throws IOException {
    for (String ref : loggedModelRefs(model)) {
      if (present(ref)) {
        return true;
      }
    }
    return false;
  }

  /** The models that have a head or a tag (a ref whose log is damaged counts: {@link #present}). */
  Set<String> modelNames() throws IOException {
    Set<String> out = new TreeSet<>();
    // the refs that have a log, each read on its own: list() reads every ref's log and fails at a damaged one
    for (String ref : refs.listLogged("")) {
      String model = RefNames.modelOf(ref);
      if (!out.contains(model) && present(ref)) {
        out.add(model);
      }
    }
    return out;
  }

  /** The tags the model has now (a tag whose log is damaged counts: {@link #present}). */
  Set<String> tagNames(String model) throws IOException {
    Set<String> out = new TreeSet<>();
    String prefix = RefNames.tag(model, "");
    for (String ref : loggedModelRefs(model)) {
      if (ref.startsWith(prefix) && present(ref)) {
        out.add(ref.substring(prefix.length()));
      }
    }
    return out;
  }

  /**
   * Whether {@code ref} points somewhere, for the lists of names that checks of new names and suggestions read: a ref
   * whose log is damaged may, so its name counts and is not given to another model or tag. Its damage is for the
   * commands that read that ref (and verify) to report: it failed every new model's push and every new tag of its
   * model, naming another ref's log.
   */
  private boolean present(String ref) throws IOException {
    try {
      return refs.get(ref).isPresent();
    } catch (io.ferry.error.CorruptRefException damaged) {
      return true;
    }
  }

  /** The model's refs (head and tags) that have a log, deleted ones included; not those of models nested under it. */
  private List<String> loggedModelRefs(String model) throws IOException {
    List<String> out = new ArrayList<>();
    for (String ref : refs.listLogged(model + "/")) {
      if (RefNames.modelOf(ref).equals(model)) {
        out.add(ref);
      }
    }
    return out;
  }

  /**
   * The model's refs (head and tags) that point somewhere and whose log reads, for checks that a damaged ref may only
   * make more careful (what a tag move protects from gc): a damaged log of one tag failed every tag move of its model.
   */
  List<String> readableModelRefs(String model) throws IOException {
    List<String> out = new ArrayList<>();
    for (String ref : loggedModelRefs(model)) {
      try {
        if (refs.get(ref).isPresent()) {
          out.add(ref);
        }
      } catch (io.ferry.error.CorruptRefException damaged) {
        // left out: it reaches nothing for these checks
      }
    }
    return out;
  }

  /** The model's refs (head and tags), excluding those of models nested under it. */
  List<String> modelRefs(String model) throws IOException {
    List<String> out = new ArrayList<>();
    for (String ref : refs.list(model + "/")) {
      if (RefNames.modelOf(ref).equals(model)) {
        out.add(ref);
      }
    }
    return out;
  }
}
