package io.ferry.checkpoint;

import io.ferry.error.ConflictException;
import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.PushResult;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.RefNames;
import io.ferry.transfer.PullOptions;
import io.ferry.transfer.TransferListener;
import io.ferry.version.Version;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Training checkpoints of a run, kept as versions of a model named after the run: one version per step, tagged {@code
 * step-<N>} and carrying the step in its metadata ({@value #STEP_KEY}); the tag {@code latest} points at the highest
 * step. Each checkpoint version is pushed detached (no parent link to the previous step, see {@link
 * PushOptions#detached()}), so a step whose tag retention deleted is garbage once its ref-log entries are older than
 * gc's grace period. Unchanged tensors between steps are stored once (content-addressed chunks). Thread-safe as the
 * repository is; concurrent pushes of one run are not serialized here (the CLI does that).
 */
public final class Checkpoints {
  /** The version metadata key that records a checkpoint's step. */
  public static final String STEP_KEY = "checkpoint.step";
  /** The prefix of step tags. */
  public static final String STEP_TAG = "step-";
  /** The tag of the highest step. */
  public static final String LATEST = "latest";

  private final Repository repo;

  /** Checkpoints kept in this repository. */
  public Checkpoints(Repository repo) {
    this.repo = repo;
  }

  /**
   * Which steps keep their tag after a push. A step is kept if it is among the {@code keepLast} highest steps, or if
   * it is divisible by {@code keepEvery}; 0 means the rule is not set, and with neither rule every step is kept. The
   * highest step is always kept.
   */
  public record Retention(int keepLast, int keepEvery) {
    /** Keeps everything. */
    public static final Retention ALL = new Retention(0, 0);

    public Retention {
      if (keepLast < 0 || keepEvery < 0) {
        throw new IllegalArgumentException("retention: keepLast and keepEvery must be >= 1 or unset (0), got "
            + keepLast + " and " + keepEvery);
      }
    }

    boolean keepsAll() {
      return keepLast == 0 && keepEvery == 0;
    }
  }

  /** One checkpoint: its step, version id and version. */
  public record Checkpoint(long step, ChunkId id, Version version) {}

  /**
   * What a checkpoint push did.
   *
   * @param push the push's result ({@code upToDate} when this step was already pushed with the same content)
   * @param checkpoint the step as it is now stored
   * @param dropped the steps whose tags retention deleted
   */
  public record Pushed(PushResult push, Checkpoint checkpoint, List<Checkpoint> dropped) {}

  /** Checks a run name (a model name) and a step; throws {@link InvalidInputException} naming what is wrong. */
  public static void check(String run, long step) throws InvalidInputException {
    RefNames.checkModel(run);
    if (step < 0) {
      throw new InvalidInputException("checkpoint step of run '" + run + "' must be >= 0, got " + step);
    }
  }

  /**
   * Pushes {@code source} as step {@code step} of {@code run}, moves {@code latest} to the highest step and applies
   * {@code retention}. A step already pushed with the same content is up to date; with other content it is refused
   * ({@link InvalidInputException}, nothing published).
   */
  public Pushed push(Path source, String run, long step, String message, Retention retention, TransferListener listener)
      throws IOException {
    return push(source, run, step, message, retention, listener, null);
  }

  /**
   * As {@link #push(Path, String, long, String, Retention, TransferListener)}, with the files {@code opaque} takes
   * stored unread ({@link PushOptions#opaque()}; null for none).
   */
  public Pushed push(Path source, String run, long step, String message, Retention retention, TransferListener listener,
      io.ferry.scan.PathFilter opaque) throws IOException {
    check(run, step);
    list(run); // a step tag that is no checkpoint fails the push here, before anything is published
    PushOptions opts = PushOptions.builder().message(message).metadata(Map.of(STEP_KEY, Long.toString(step)))
        .listener(listener).detached(true).tagOnce(true).opaque(opaque).build();
    PushResult r = repo.push(source, run + ":" + STEP_TAG + step, opts);
    Checkpoint pushed = new Checkpoint(step, r.versionId(), r.version());
    List<Checkpoint> dropped = new ArrayList<>();
    List<Checkpoint> all = list(run);
    if (!retention.keepsAll()) {
      Set<Long> keep = new TreeSet<>();
      for (int i = Math.max(0, all.size() - retention.keepLast()); i < all.size() && retention.keepLast() > 0; i++) {
        keep.add(all.get(i).step());
      }
      if (!all.isEmpty()) {
        // the step a crashed run resumes from is never dropped: with --keep-every alone a step that is no multiple
        // lost its tag as it was pushed, so the run's latest was an older multiple, or nothing
        keep.add(all.get(all.size() - 1).step());
      }
      for (Checkpoint c : all) {
        if (retention.keepEvery() > 0 && c.step() % retention.keepEvery() == 0) {
          keep.add(c.step());
        }
      }
      for (Checkpoint c : all) {
        if (!keep.contains(c.step())) {
          try {
            repo.untag(run + ":" + STEP_TAG + c.step(), c.id());
            dropped.add(c);
          } catch (NotFoundException | ConflictException e) {
            // a concurrent push of the run deleted it first
          }
        }
      }
    }
    if (dropped.stream().anyMatch(c -> c.id().equals(r.versionId()))) {
      keepHeadOffDropped(run, r.versionId());
    }
    moveLatest(run);
    return new Pushed(r, pushed, List.copyOf(dropped));
  }

  /**
   * Moves the head off {@code droppedId}, the version this push published and its retention dropped (a step below
   * those it keeps, pushed after them), to the highest kept step: the head kept naming the dropped step, so a pull of
   * the run restored it and gc never freed it. A head another push moved meanwhile is left to that push.
   */
  private void keepHeadOffDropped(String run, ChunkId droppedId) throws IOException {
    List<Checkpoint> all = list(run);
    if (all.isEmpty()) {
      return; // no step has its tag (deleted by hand meanwhile): nothing to point the head at
    }
    Checkpoint kept = all.get(all.size() - 1);
    try {
      repo.moveHead(run, kept.id(), droppedId, "checkpoint: step dropped by retention as it was pushed, head to step "
          + kept.step());
    } catch (ConflictException | NotFoundException e) {
      // another push moved the head (or gc removed the kept step's version) meanwhile: the head is not the dropped step
    }
  }

  /** How often {@link #moveLatest} reads the run again after a concurrent push moved {@code latest}. */
  private static final int LATEST_ATTEMPTS = 100;

  /**
   * Points {@code latest} at the highest step that has its tag, or deletes it when none has; then reads both again,
   * until they agree. A concurrent push of the run may move the tag between this push's reading and moving it (a move
   * that creates it overwrites): this push failed then, "nothing changed", although its step was published, or left
   * {@code latest} at a lower step than the other one had just pointed it at.
   */
  private void moveLatest(String run) throws IOException {
    for (int attempt = 1; ; attempt++) {
      Optional<ChunkId> cur = repo.backend().refs().get(RefNames.tag(run, LATEST));
      List<Checkpoint> all = list(run);
      Optional<ChunkId> newest = all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1).id());
      if (cur.equals(newest)) {
        return;
      }
      try {
        if (newest.isPresent()) {
          repo.tag(run + "@" + newest.get().hex(), LATEST, cur.orElse(null));
        } else {
          // retention kept no step (--keep-every alone, no step a multiple): latest must not keep a dropped step
          repo.untag(run + ":" + LATEST, cur.get());
        }
      } catch (ConflictException | NotFoundException e) {
        // another push moved or deleted it meanwhile: read both again
      }
      if (attempt == LATEST_ATTEMPTS) {
        throw new ConflictException("run '" + run + "': " + LATEST + " kept moving under concurrent pushes after "
            + LATEST_ATTEMPTS + " attempts; its steps are stored, 'ferry tag' can point " + LATEST + " at the highest");
      }
    }
  }

  /** The checkpoints of a run that still have their step tag, lowest step first; empty if the run has none. */
  public List<Checkpoint> list(String run) throws IOException {
    RefNames.checkModel(run);
    String prefix = RefNames.tag(run, STEP_TAG);
    List<Checkpoint> out = new ArrayList<>();
    for (String ref : repo.backend().refs().list(run + "/")) {
      if (!ref.startsWith(prefix) || !RefNames.modelOf(ref).equals(run)) {
        continue;
      }
      Optional<ChunkId> id = repo.backend().refs().get(ref);
      if (id.isEmpty()) {
        continue; // deleted meanwhile
      }
      String tagStep = ref.substring(prefix.length());
      if (!isStep(tagStep)) {
        continue; // a tag of the user's such as step-best: a step tag names a step as push writes it
      }
      Version v = repo.objects().version(id.get());
      String recorded = v.metadata().get(STEP_KEY);
      if (recorded == null || !recorded.equals(tagStep)) {
        throw new InvalidInputException("tag " + RefNames.asWritten(ref) + " points at version "
            + id.get().shortHex(12) + " whose metadata " + STEP_KEY + " is "
            + (recorded == null ? "missing" : "'" + recorded + "'") + ", expected '" + tagStep
            + "': not a checkpoint made by 'ferry checkpoint push' (step-<N> tags are the run's steps; delete it with"
            + " 'ferry tag -d " + RefNames.asWritten(ref) + "')");
      }
      long step;
      try {
        step = Long.parseLong(recorded);
      } catch (NumberFormatException e) {
        throw new InvalidInputException("version " + id.get().shortHex(12) + " of run '" + run + "' records "
            + STEP_KEY + " '" + recorded + "', expected a number");
      }
      out.add(new Checkpoint(step, id.get(), v));
    }
    out.sort(Comparator.comparingLong(Checkpoint::step));
    return out;
  }

  /** Whether {@code text} is a step as a step tag writes it: a number >= 0 in decimal digits, no leading zero. */
  private static boolean isStep(String text) {
    if (text.isEmpty() || text.length() > 19 || (text.length() > 1 && text.charAt(0) == '0')) {
      return false;
    }
    for (int i = 0; i < text.length(); i++) {
      if (text.charAt(i) < '0' || text.charAt(i) > '9') {
        return false;
      }
    }
    try {
      Long.parseLong(text);
      return true;
    } catch (NumberFormatException e) {
      return false; // above Long.MAX_VALUE
    }
  }

  /**
   * As {@link #list}, for a run that must exist: a run that is no model at all is not found as a model is ("no model
   * 'RUN'", with the names it may have meant), not reported as a run without checkpoints or without that step.
   */
  private List<Checkpoint> listExisting(String run) throws IOException {
    List<Checkpoint> all = list(run);
    if (all.isEmpty() && repo.refsOf(run).isEmpty()) {
      repo.resolve(run); // throws NotFoundException naming the run and what it may have meant
    }
    return all;
  }

  /** The highest step of a run. */
  public Checkpoint latest(String run) throws IOException {
    List<Checkpoint> all = listExisting(run);
    if (all.isEmpty()) {
      throw new NotFoundException("run '" + run + "' has no checkpoints in " + repo.uri());
    }
    return all.get(all.size() - 1);
  }

  /** The checkpoint of one step. */
  public Checkpoint at(String run, long step) throws IOException {
    check(run, step);
    List<Checkpoint> all = listExisting(run);
    for (Checkpoint c : all) {
      if (c.step() == step) {
        return c;
      }
    }
    throw new NotFoundException("run '" + run + "' has no checkpoint of step " + step + " in " + repo.uri() + ": "
        + missing(run, step, all));
  }

  /**
   * Why {@code step} is not a step of {@code run}: its tag was deleted (by retention, or by hand), naming the version
   * it named last; or it never had one, naming the steps the run has.
   */
  private String missing(String run, long step, List<Checkpoint> all) {
    String tag = RefNames.tag(run, STEP_TAG + step);
    try {
      List<io.ferry.store.RefLogEntry> log = repo.backend().refs().log(tag);
      io.ferry.store.RefLogEntry last = log.isEmpty() ? null : log.get(log.size() - 1);
      if (last != null && last.newId() == null && last.oldId() != null) {
        String was = last.oldId().shortHex(12);
        return "it was dropped (its tag " + STEP_TAG + step + " was deleted, by retention or by hand; it named"
            + " version " + was + ", which 'ferry pull " + run + "@" + was + "' restores until gc frees it; ferry"
            + " reflog " + run + ":" + STEP_TAG + step + ")";
      }
    } catch (IOException e) {
      // a damaged log (which verify names) leaves the cause open
      return "it was never pushed, or was dropped by retention";
    }
    List<String> steps = all.stream().map(c -> Long.toString(c.step())).toList();
    if (steps.size() > 10) {
      steps = java.util.stream.Stream.concat(steps.subList(0, 5).stream(),
          java.util.stream.Stream.of("...", steps.get(steps.size() - 1))).toList();
    }
    return "it was never pushed (its steps: " + (steps.isEmpty() ? "none" : String.join(", ", steps)) + ")";
  }

  /** Pulls a step ({@code null}: the latest) of a run into {@code dest}. */
  public Checkpoint pull(String run, Long step, Path dest, PullOptions opts) throws IOException {
    Checkpoint c = step == null ? latest(run) : at(run, step);
    VersionRef v = repo.pull(run + "@" + c.id().hex(), dest, opts);
    return new Checkpoint(c.step(), v.id(), v.version());
  }
}
