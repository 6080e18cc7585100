package io.ferry.store;

/**
 * Outcome of {@link RefStore#compareAndSet}. Callers may assume that values they do not know are failures.
 */
public enum CasResult {
  /** The ref did not exist and now does. */
  NEW,
  /** The ref moved from the expected value to the new one. */
  UPDATED,
  /** The ref was deleted. */
  DELETED,
  /** The ref already had the new value; nothing was written. */
  NO_CHANGE,
  /** The ref did not have the expected value; nothing was written. */
  LOCK_FAILURE;

  /** Whether the ref now has the requested value. */
  public boolean isSuccess() {
    return this != LOCK_FAILURE;
  }
}
