package io.ferry.repo;

import io.ferry.error.ConflictException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.repo.Results.TagResult;
import io.ferry.store.CasResult;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import io.ferry.objects.ObjectDatabase;
import io.ferry.version.RefSpec;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Removing one version from a model ({@code rm MODEL@ID}) and renaming a model ({@code mv OLD NEW}): moves of several
 * refs of one model, each by compare-and-swap, checked before the first move so that a refusal changes nothing.
 * Deleted refs keep their logs (gc keeps what they pointed at for its grace period). Thread-safe as its parts are.
 */
final class ModelRefMoves {
  private final RefStore refs;
  private final RefUpdater updater;
  private final Resolver resolver;
  private final History history;
  private final String author;
  private final ObjectDatabase db;

  ModelRefMoves(ObjectDatabase db, RefStore refs, RefUpdater updater, Resolver resolver, History history,
      String author) {
    this.db = db;
    this.refs = refs;
    this.updater = updater;
    this.resolver = resolver;
    this.history = history;
    this.author = author;
  }

  /** The model's live refs (head first, then tags by name) with their targets. */
  private Map<String, ChunkId> live(String model) throws IOException {
    Map<String, ChunkId> out = new LinkedHashMap<>();
    Optional<ChunkId> head = refs.get(RefNames.head(model));
    head.ifPresent(id -> out.put(RefNames.head(model), id));
    for (String ref : new java.util.TreeSet<>(resolver.modelRefs(model))) {
      if (!ref.equals(RefNames.head(model))) {
        refs.get(ref).ifPresent(id -> out.put(ref, id));
      }
    }
    return out;
  }

  /** {@code tiny} or {@code tiny:prod} for a stored ref name. */
  private static String userRef(String model, String ref) {
    return ref.equals(RefNames.head(model)) ? model : model + ":" + ref.substring(RefNames.tag(model, "").length());
  }

  /**
   * Removes the version {@code spec} names from its model: the head, when it points at the version, moves back to
   * the version's parent in the model (or is deleted when there is none); tags pointing at it are deleted, only with
   * {@code force}. Refused, changing nothing, when a newer version of the model (the head's or a tag's history) builds
   * on it, when a tag points at it (without force), or when another model's history holds it (without force; with
   * force it stays as that model's history).
   */
  List<TagResult> removeVersion(String text, boolean force) throws IOException {
    RefSpec spec = RefSpec.parse(text);
    if (spec.idPrefix() == null || spec.back() > 0 || spec.path() != null || spec.tag() != null) {
      throw new InvalidInputException("rm takes MODEL or MODEL@ID, not '" + text + "'");
    }
    String model = spec.model();
    Results.VersionRef v = resolver.resolve(spec);
    ChunkId id = v.id();
    String what = model + "@" + id.shortHex(12);
    Map<String, ChunkId> own = live(model);
    List<String> tagsAt = new ArrayList<>();
    for (Map.Entry<String, ChunkId> r : own.entrySet()) {
      String name = userRef(model, r.getKey());
      boolean isHead = r.getKey().equals(RefNames.head(model));
      if (r.getValue().equals(id)) {
        if (!isHead) {
          tagsAt.add(name);
        }
      } else if (history.isAncestor(id, r.getValue())) {
        throw new InvalidInputException(what + " is in the history of " + name + " (" + r.getValue().shortHex(12)
            + "): a version can be removed only when nothing newer builds on it; remove the newer versions first, or"
            + " the whole model (ferry rm " + model + "); nothing was removed");
      }
    }
    boolean headAt = id.equals(own.get(RefNames.head(model)));
    if (!headAt && tagsAt.isEmpty()) {
      throw new NotFoundException(what + " is on no ref of " + model + " (neither its head nor a tag points at it or"
          + " builds on it): nothing to remove; gc frees it once nothing else needs it");
    }
    if (!tagsAt.isEmpty() && !force) {
      throw new InvalidInputException(what + " is tagged " + String.join(", ", tagsAt) + ": delete the tag first"
          + " (ferry tag -d " + tagsAt.get(0) + ") or remove it with --force; nothing was removed");
    }
    if (!force) {
      List<String> users = new ArrayList<>();
      for (String other : resolver.modelNames()) {
        if (other.equals(model)) {
          continue;
        }
        for (Map.Entry<String, ChunkId> r : live(other).entrySet()) {
          if (history.isAncestor(id, r.getValue())) {
            users.add(userRef(other, r.getKey()));
            break;
          }
        }
      }
      if (!users.isEmpty()) {
        throw new InvalidInputException(what + " is in the history of " + String.join(", ", users) + " (derived"
            + " from it): remove with --force to keep it only as their history; nothing was removed");
      }
    }
    String why = "rm " + what;
    List<TagResult> out = new ArrayList<>();
    for (String name : tagsAt) {
      String ref = RefNames.tag(model, name.substring(model.length() + 1));
      out.add(cas(ref, id, null, why, out));
    }
    if (headAt) {
      Version ver = v.version();
      ChunkId parent = ver.parents().isEmpty() ? null : ver.parents().get(0);
      // the name the version was pushed under, which mv does not change: its parent of the same name is the model's
      if (parent != null && !db.version(parent).model().equals(ver.model())) {
        parent = null; // the model starts here: its first parent is another model's version
      }
      out.add(cas(RefNames.head(model), id, parent, why, out));
    }
    return out;
  }

  private TagResult cas(String ref, ChunkId expected, ChunkId next, String why, List<TagResult> done)
      throws IOException {
    CasResult r = updater.compareAndSet(ref, expected, next, author, why);
    if (!r.isSuccess()) {
      throw new ConflictException(RefNames.asWritten(ref) + " moved meanwhile (expected " + expected.shortHex(12)
          + "); "
          + (done.isEmpty() ? "nothing changed" : "already moved: "
              + done.stream().map(d -> RefNames.asWritten(d.ref())).toList()));
    }
    return new TagResult(ref, expected, next, r);
  }

  /**
   * Renames a model: creates {@code to}'s refs (tags first, the head last), each from "must not exist", then deletes
   * {@code from}'s. Every log entry says {@code mv FROM TO}, so reflog under either name shows the move. A crash
   * leaves either name usable: before the last create, {@code from} is intact (and {@code to} may hold some tags); after
   * it, {@code to} is complete (and {@code from} may keep some refs). Running the same rename again finishes it: refs
   * of {@code to} that this rename created are kept, the rest are created, then {@code from}'s are deleted.
   *
   * @return the refs created and deleted, in order
   */
  List<TagResult> rename(String from, String to) throws IOException {
    RefNames.checkModel(from);
    RefNames.checkModel(to);
    if (from.equals(to)) {
      throw new InvalidInputException("cannot rename model '" + from + "' to itself: OLD and NEW are the same name");
    }
    Map<String, ChunkId> old = live(from);
    if (old.isEmpty()) {
      throw resolver.noModel(from);
    }
    String why = "mv " + from + " " + to;
    Map<String, ChunkId> already = live(to);
    if (!already.isEmpty() && !madeBy(already, why)) {
      throw new InvalidInputException("cannot rename model '" + from + "' to '" + to + "': '" + to + "' exists; remove"
          + " it first (ferry rm " + to + ") or pick another name; nothing was moved");
    }
    if (already.isEmpty()) {
      resolver.checkNoCaseTwin(to);
    }
    List<Map.Entry<String, ChunkId>> order = new ArrayList<>();
    ChunkId head = old.get(RefNames.head(from));
    old.forEach((ref, id) -> {
      if (!ref.equals(RefNames.head(from))) {
        order.add(Map.entry(ref, id));
      }
    });
    List<TagResult> created = new ArrayList<>();
    List<TagResult> out = new ArrayList<>();
    // a ref of the new name that moved since an interrupted run: refused before anything is created
    for (Map.Entry<String, ChunkId> r : old.entrySet()) {
      String ref = renamed(r.getKey(), from, to);
      checkKept(ref, userRef(to, ref), userRef(from, r.getKey()), r.getValue(), already);
    }
    for (Map.Entry<String, ChunkId> r : order) {
      createUnlessKept(renamed(r.getKey(), from, to), r.getValue(), already, why, created);
    }
    if (head != null) {
      createUnlessKept(RefNames.head(to), head, already, why, created);
    }
    out.addAll(created);
    for (Map.Entry<String, ChunkId> r : order) {
      out.add(cas(r.getKey(), r.getValue(), null, why, out));
    }
    if (head != null) {
      out.add(cas(RefNames.head(from), head, null, why, out));
    }
    return out;
  }

  /**
   * Whether every one of these refs was last moved by this very rename ({@code why}, e.g. {@code mv a b}) to where it
   * is: the new name holds only what an interrupted run of the same {@code mv} created, so running it again finishes
   * the move. A killed {@code mv} used to leave refs under both names, and running it again was refused because the new
   * name existed.
   */
  private boolean madeBy(Map<String, ChunkId> refsOfTo, String why) throws IOException {
    for (Map.Entry<String, ChunkId> r : refsOfTo.entrySet()) {
      List<io.ferry.store.RefLogEntry> log = refs.log(r.getKey());
      if (log.isEmpty()) {
        return false;
      }
      io.ferry.store.RefLogEntry last = log.get(log.size() - 1);
      if (!last.why().equals(why) || !r.getValue().equals(last.newId())) {
        return false;
      }
    }
    return true;
  }

  /** The name under model {@code to} of {@code ref}, a ref of model {@code from}: its head or one of its tags. */
  private static String renamed(String ref, String from, String to) {
    return ref.equals(RefNames.head(from)) ? RefNames.head(to)
        : RefNames.tag(to, ref.substring(RefNames.tag(from, "").length()));
  }

  /**
   * Refuses a ref of the new name that an interrupted run of the same rename made ({@code already}) and that no longer
   * points where the old name's ref does: it moved since.
   */
  private static void checkKept(String ref, String shown, String source, ChunkId id, Map<String, ChunkId> already)
      throws ConflictException {
    ChunkId there = already.get(ref);
    if (there != null && !there.equals(id)) {
      throw new ConflictException(shown + " points at " + there.shortHex(12) + " but " + source + ", which an"
          + " interrupted mv was moving there, points at " + id.shortHex(12) + " (moved since the interrupted mv);"
          + " nothing more was moved: move one of them by hand (ferry tag)");
    }
  }

  /** Creates a ref of the new name, unless an interrupted run of the same rename made it ({@link #checkKept}). */
  private void createUnlessKept(String ref, ChunkId id, Map<String, ChunkId> already, String why,
      List<TagResult> created) throws IOException {
    if (!already.containsKey(ref)) {
      create(ref, id, why, created);
    }
  }

  /** Creates a ref that must not exist; on a lost race, deletes those created so far and throws. */
  private void create(String ref, ChunkId id, String why, List<TagResult> created) throws IOException {
    CasResult r = updater.compareAndSet(ref, null, id, author, why);
    if (r.isSuccess()) {
      created.add(new TagResult(ref, null, id, r));
      return;
    }
    for (TagResult c : created) {
      updater.compareAndSet(c.ref(), c.newId(), null, author, why + " (undone: " + ref + " appeared meanwhile)");
    }
    throw new ConflictException(RefNames.asWritten(ref) + " was created by someone else during mv; nothing was moved");
  }
}
