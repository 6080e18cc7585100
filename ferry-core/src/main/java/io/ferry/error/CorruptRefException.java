package io.ferry.error;

/**
 * A ref log that is damaged: an entry that does not decode (checksum, JSON or fields), an entry missing from a
 * numbered log, or an entry whose old id is not the new id of the entry before it. Carries the ref, the store and the
 * entry (1 for the oldest), so that the user can find what to repair; the CLI exits 3, as for a corrupt object.
 */
public class CorruptRefException extends FerryException {
  private final String ref;
  private final String store;
  private final long entry;
  private final String defect;

  /**
   * @param ref the ref whose log is damaged, e.g. {@code llama/tags/prod}
   * @param store the store's URI
   * @param entry the number of the damaged entry, 1 for the oldest (for a local log also its line number)
   * @param defect what is wrong with it, with expected and actual values where there are some
   */
  public CorruptRefException(String ref, String store, long entry, String defect) {
    super("log of ref '" + ref + "' in " + store + " is damaged at entry " + entry + ": " + defect);
    this.ref = ref;
    this.store = store;
    this.entry = entry;
    this.defect = defect;
  }

  /** The ref whose log is damaged. */
  public String ref() {
    return ref;
  }

  /** The store's URI. */
  public String store() {
    return store;
  }

  /** The number of the damaged entry, 1 for the oldest. */
  public long entry() {
    return entry;
  }

  /** What is wrong with the entry, as given to the constructor (the message without the ref, store and entry). */
  public String defect() {
    return defect;
  }

  @Override
  public Kind kind() {
    return Kind.INTEGRITY;
  }
}
