package io.ferry.store;

import io.ferry.id.ChunkId;
import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Backend SPI: movable names ({@code <model>/head}, {@code <model>/tags/<tag>}) pointing at version ids, moved only by
 * compare-and-swap, each move appended to the ref's log.
 *
 * <p>Contract, checked by {@code RefStoreContract} in ferry-testkit:
 *
 * <ul>
 *   <li>{@link #compareAndSet} is linearizable across threads and processes: of concurrent calls expecting the same
 *       value, at most one returns a success; the others return {@link CasResult#LOCK_FAILURE} and change nothing.
 *   <li>A successful move and its log entry become visible together; a crash never leaves one without the other.
 *   <li>A lost race is a result, not an exception; only system faults throw.
 *   <li>A damaged log is an integrity failure ({@link io.ferry.error.CorruptRefException}), never misread: every
 *       read that meets damage throws it.
 * </ul>
 *
 * Ref names are validated by core ({@link RefNames}) before they reach a backend.
 */
public interface RefStore extends Closeable {

  /** The version id the ref points at, or empty if the ref does not exist (or was deleted). */
  Optional<ChunkId> get(String name) throws IOException;

  /**
   * Refuses a model whose refs the caller may not move, so that a push or a copy fails before it sends anything (a
   * server checks its token's scopes); stores without access control accept every model. The ref moves stay
   * checked on their own.
   *
   * @throws io.ferry.error.InvalidInputException naming the model and why, if the caller may not move its refs
   */
  default void checkWritable(String model) throws IOException {}

  /**
   * Moves {@code name} from {@code expected} to {@code next} if and only if it currently points at {@code expected}.
   *
   * <p>Outcomes: {@link CasResult#NEW} when an absent (or deleted) ref was created, {@link CasResult#UPDATED},
   * {@link CasResult#DELETED} when {@code next} is null, {@link CasResult#NO_CHANGE} when the ref already has {@code
   * next} (nothing is written and nothing is logged), {@link CasResult#LOCK_FAILURE} when it does not have {@code
   * expected} (nothing is written). A deleted ref keeps its log; {@link #get} and {@link #list} no longer see it.
   *
   * @param expected the current value, or {@code null} for "must not exist"
   * @param next the new value, or {@code null} to delete the ref
   * @param entry who, when and why; its old and new ids must equal {@code expected} and {@code next}
   * @throws io.ferry.error.InvalidInputException if the name is not a valid ref name ({@link RefNames#checkRef})
   * @throws IllegalArgumentException if the entry's ids differ from {@code expected} and {@code next}
   */
  CasResult compareAndSet(String name, ChunkId expected, ChunkId next, RefLogEntry entry) throws IOException;

  /** Names of the existing refs that start with {@code prefix}, sorted. */
  List<String> list(String prefix) throws IOException;

  /**
   * Names of the refs that start with {@code prefix} and have a log, sorted: the existing refs and the deleted ones
   * (a deleted ref keeps its log). gc marks from the recent entries of these logs, so that what a deleted tag or a
   * removed model pointed at is kept for the grace period, and a version named in them can still be found.
   */
  List<String> listLogged(String prefix) throws IOException;

  /**
   * The ref's log, oldest first; empty if the ref never existed.
   *
   * @throws io.ferry.error.CorruptRefException if the log is damaged: an entry that does not decode, one missing from
   *     the middle, or entries that do not chain ({@link io.ferry.store.refs.RefLogFormat#checkChain}); a backend
   *     whose crash recovery leaves a torn last entry (the local store) skips that one
   */
  List<RefLogEntry> log(String name) throws IOException;

  /**
   * Reads the ref's whole log and checks it as {@link #log} does, for {@code ferry verify}; {@link #get} and {@link
   * #compareAndSet} read only the end of a log and report damage only where they meet it. Works for deleted refs too.
   *
   * @throws io.ferry.error.CorruptRefException naming the ref, the store, the first damaged entry and its defect
   */
  default void checkLog(String name) throws IOException {
    log(name);
  }

  /**
   * Names of refs whose logs are not even files (a directory or a fifo where a log should be): {@link #list} leaves
   * them out, so that one damaged ref does not hide the others, and {@code verify} reports each of them through
   * {@link #checkLog}. Stores whose logs cannot be anything but logs have none, the default.
   */
  default List<String> unreadable() throws IOException {
    return List.of();
  }
}
