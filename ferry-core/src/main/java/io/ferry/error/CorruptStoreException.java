package io.ferry.error;

/**
 * A part of a store other than an object or a ref log that is damaged: its marker, or a record whose bytes cannot be
 * read back. Carries the store and the defect, so that the user can find what to repair; the CLI exits 3, as for a
 * corrupt object. Nothing is written to a store on the way to this error.
 */
public class CorruptStoreException extends FerryException {
  private final String store;
  private final String defect;

  /**
   * @param store the store's URI or path
   * @param defect what is damaged and how, naming the file or key (e.g. {@code its marker ferry-store.json is not
   *     valid JSON: ...})
   */
  public CorruptStoreException(String store, String defect) {
    this(store, defect, null);
  }

  /** The same, with the failure that revealed the damage as the cause. */
  public CorruptStoreException(String store, String defect, Throwable cause) {
    super("store " + store + " is damaged: " + defect, cause);
    this.store = store;
    this.defect = defect;
  }

  /** The store's URI or path. */
  public String store() {
    return store;
  }

  /** What is damaged and how (the message without the store). */
  public String defect() {
    return defect;
  }

  @Override
  public Kind kind() {
    return Kind.INTEGRITY;
  }
}
