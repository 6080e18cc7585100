package io.ferry.repo;

/**
 * What {@link Repository#deleteDamaged} may delete besides damaged loose objects (chunks, snapshots, versions).
 *
 * @param packs whether a pack whose bytes do not hash to its id is deleted too: it takes its healthy chunks with it,
 *     and only a copy from a store that holds it intact brings it back (a push does not make it again, and pushes of
 *     the models that list it fail until then); docs/gc.md, "Repairing damaged objects"
 */
public record RepairOptions(boolean packs) {
  /** Damaged loose objects only; damaged packs are reported and kept. */
  public static final RepairOptions LOOSE = new RepairOptions(false);

  /** Damaged packs too. */
  public static final RepairOptions WITH_PACKS = new RepairOptions(true);
}
