package io.ferry.repo;

import io.ferry.chunk.Frame;
import io.ferry.error.CorruptObjectException;
import io.ferry.error.FerryException;
import io.ferry.error.MissingObjectException;
import io.ferry.id.ChunkId;
import io.ferry.lease.Lease;
import io.ferry.lease.Leases;
import io.ferry.objects.ObjectDatabase;
import io.ferry.read.ChunkOwners;
import io.ferry.read.ChunkReader;
import io.ferry.read.Location;
import io.ferry.repo.Results.DamagedObject;
import io.ferry.repo.Results.RepairReport;
import io.ferry.repo.Results.VersionRef;
import io.ferry.store.ChunkStore;
import io.ferry.transfer.TransferListener;
import io.ferry.version.ChunkRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code verify --delete-damaged}: verifies, then deletes exactly the loose objects (chunks, snapshots, versions) whose
 * stored bytes fail their own id, so that a push of the same files (or a copy from a store that holds them) stores
 * them again: both store what the store lacks and take what it holds as it is, so a damaged object left in place is
 * never replaced.
 *
 * <p>Each object is checked again right before it is deleted, under a gc lease ({@link Leases}), and deleted only if
 * that check reads it whole and finds a frame of a version this Ferry reads whose bytes fail (CRC, decoding, or the
 * SHA-256 of the content against the id). Kept: an object that could not be read (permission denied, an I/O error, a
 * timeout: verify stops before deleting anything then), one that does not begin like a known frame (another kind of
 * object, or newer software's), one that is healthy when checked again, and every pack (see {@link #PACK_KEPT}).
 *
 * <p>Why the lease suffices: a push that reuses a damaged object declares it and waits while a gc lease is held before
 * it checks that what it declared exists; it then finds the deleted object missing and stores it again. A push or
 * copy that puts the object between the check and the delete finds it present and writes nothing (puts of existing
 * objects are no-ops), so only damaged bytes are ever deleted.
 */
final class DamageRepair {
  /** Why a damaged pack is kept without {@link RepairOptions#packs()}; docs/gc.md says more. */
  static final String PACK_KEPT = "a pack is deleted only with --delete-damaged-packs: versions name it by the hash of"
      + " all its bytes, so it cannot be rewritten without the damaged frame, and deleting it takes its healthy chunks"
      + " with it; only a copy from a store that holds it intact brings it back, and until then pushes of the models"
      + " that list it fail (docs/gc.md, \"Repairing damaged objects\")";

  private final ObjectDatabase db;
  private final ChunkStore chunks;
  private final Leases leases;
  private final Verifier verifier;

  DamageRepair(ObjectDatabase db, ChunkStore chunks, Leases leases, Verifier verifier) {
    this.db = db;
    this.chunks = chunks;
    this.leases = leases;
    this.verifier = verifier;
  }

  /** What {@link #run} does with the verify's findings before it deletes anything: it may throw to stop there. */
  interface Findings {
    void check(Verifier.Checked checked) throws IOException;
  }

  /** Verifies {@code version} (null: the store), passes the findings to {@code first}, then deletes what is damaged. */
  RepairReport run(VersionRef version, RepairOptions options, TransferListener listener, Findings first)
      throws IOException {
    Verifier.Checked checked;
    try {
      checked = verifier.check(version, listener);
    } catch (FerryException e) {
      throw e;
    } catch (IOException e) {
      throw new IOException(e.getMessage() + "; nothing was deleted (an object that cannot be read is not known to be"
          + " damaged)", e);
    }
    first.check(checked);
    List<Verifier.Suspect> suspects = checked.suspects();
    if (suspects.isEmpty()) {
      return new RepairReport(checked.report(), List.of(), List.of(), List.of());
    }
    Map<ChunkId, List<String>> uses = uses(checked, suspects);
    List<DamagedObject> deleted = new ArrayList<>();
    List<DamagedObject> kept = new ArrayList<>();
    List<Verifier.Suspect> loose = new ArrayList<>();
    for (Verifier.Suspect s : suspects) {
      if (s.kind().equals("pack") && !options.packs()) {
        kept.add(damaged(s, uses, PACK_KEPT));
      } else {
        loose.add(s);
      }
    }
    if (!loose.isEmpty()) {
      try (Lease lease = leases.take(Lease.Kind.GC, "verify --delete-damaged")) {
        for (Verifier.Suspect s : loose) {
          lease.checkHeld();
          String keep = s.kind().equals("pack") ? keepPackReason(s.object()) : keepReason(s.object());
          if (keep == null) {
            try {
              chunks.delete(s.object());
            } catch (java.nio.file.DirectoryNotEmptyException e) {
              kept.add(damaged(s, uses, "a directory holding files is in its place, which Ferry did not write: move"
                  + " it away, then run this again"));
              continue;
            }
            deleted.add(damaged(s, uses, null));
          } else {
            kept.add(damaged(s, uses, keep));
          }
        }
      }
    }
    return new RepairReport(checked.report(), deleted, kept, restore(deleted, checked.report().damagedVersions()));
  }

  private static DamagedObject damaged(Verifier.Suspect s, Map<ChunkId, List<String>> uses, String kept) {
    List<String> u = uses.getOrDefault(s.object(), List.of());
    if (u.isEmpty()) {
      u = List.of(s.kind().equals("pack") ? "no version checked lists it" : s.label());
    }
    // a pack's defect says where in it: which chunk's frame, or its index
    String defect = s.kind().equals("pack") ? s.label() + ": " + s.defect() : s.defect();
    return new DamagedObject(s.object(), s.kind(), defect, u, kept);
  }

  /**
   * Null if the object's stored bytes fail its own id now; else why it is kept. Reads only: the object as it is, its
   * first bytes, then all of it through the reader's complete check.
   */
  private String keepReason(ChunkId id) {
    try {
      long size = chunks.size(id);
      ByteBuffer head = chunks.read(id, 0, (int) Math.min(size, 5));
      if (size >= 5 && !Frame.knownFrameStart(head)) {
        return "it does not begin like a frame of a version this Ferry reads: it may be another kind of object, or"
            + " newer software's";
      }
    } catch (MissingObjectException e) {
      return "no longer in the store";
    } catch (CorruptObjectException e) {
      // something that is not an object (a fifo, a directory) in its place: no bytes of it are lost by deleting it
      return id.equals(e.id()) ? null : "could not be read again: " + e.getMessage();
    } catch (IOException | RuntimeException e) {
      // permission denied, an I/O error: nothing says its bytes are damaged
      return "could not be read again: " + unreadable(e);
    }
    try {
      db.reader().verify(Location.loose(id), ChunkReader.ANY_LENGTH);
      return "healthy when checked again (stored again meanwhile)";
    } catch (CorruptObjectException e) {
      return id.equals(e.id()) ? null : "checked again: " + e.getMessage();
    } catch (MissingObjectException e) {
      return "no longer in the store";
    } catch (IOException | RuntimeException e) {
      return "could not be read again: " + unreadable(e);
    }
  }

  /**
   * Null if the pack's stored bytes do not hash to its id (a pack is named by the SHA-256 of its bytes, whatever
   * format version they have); else why it is kept.
   */
  private String keepPackReason(ChunkId pack) {
    try {
      long size = chunks.size(pack);
      java.security.MessageDigest sha = ChunkId.sha256();
      for (long at = 0; at < size; ) {
        int n = (int) Math.min(size - at, 1 << 20);
        sha.update(chunks.read(pack, at, n));
        at += n;
      }
      return ChunkId.fromBytes(sha.digest()).equals(pack) ? "healthy when checked again (stored again meanwhile)"
          : null;
    } catch (MissingObjectException e) {
      return "no longer in the store";
    } catch (IOException | RuntimeException e) {
      return "could not be read again: " + unreadable(e);
    }
  }

  private static String unreadable(Exception e) {
    String file = io.ferry.error.FileErrors.describe(e);
    return file != null ? file : e.getMessage();
  }

  /**
   * What each damaged object held, for the report: every file range (with its tensors) of a chunk, the versions of a
   * snapshot or pack, at most {@link DamagedObject#MAX_USES} each.
   */
  private Map<ChunkId, List<String>> uses(Verifier.Checked checked, List<Verifier.Suspect> suspects) {
    Set<ChunkId> chunkIds = new HashSet<>();
    Set<ChunkId> others = new HashSet<>();
    for (Verifier.Suspect s : suspects) {
      (s.kind().equals("chunk") ? chunkIds : others).add(s.object());
    }
    Map<ChunkId, List<String>> out = new LinkedHashMap<>();
    Map<ChunkId, Integer> more = new HashMap<>();
    Map<ChunkId, List<String[]>> held = new HashMap<>(); // per snapshot: [chunk hex, "file bytes [a, b) ..."]
    for (VersionRef v : checked.versions()) {
      String name = v.version().model() + "@" + v.id().shortHex(12);
      if (others.contains(v.version().snapshot())) {
        add(out, more, v.version().snapshot(), name + " (the snapshot: its list of files)");
      }
      for (ChunkId p : v.version().packs()) {
        if (others.contains(p)) {
          add(out, more, p, name + " (lists the pack)");
        }
      }
      if (chunkIds.isEmpty()) {
        continue;
      }
      List<String[]> in = held.computeIfAbsent(v.version().snapshot(), sid -> chunksIn(sid, chunkIds));
      for (String[] h : in) {
        add(out, more, ChunkId.parse(h[0]), name + "//" + h[1]);
      }
    }
    for (Map.Entry<ChunkId, Integer> m : more.entrySet()) {
      out.get(m.getKey()).add("and " + m.getValue() + " more");
    }
    return out;
  }

  private List<String[]> chunksIn(ChunkId snapshot, Set<ChunkId> wanted) {
    Snapshot s;
    try {
      s = db.snapshot(snapshot);
    } catch (IOException | RuntimeException e) {
      return List.of(); // damaged itself: reported on its own
    }
    List<String[]> out = new ArrayList<>();
    for (FileEntry f : s.files()) {
      long at = 0;
      for (ChunkRef c : f.chunks()) {
        if (wanted.contains(c.id())) {
          out.add(new String[] {c.id().hex(), ChunkOwners.describe(f, at, at + c.length())});
        }
        at += c.length();
      }
    }
    return out;
  }

  private static void add(Map<ChunkId, List<String>> out, Map<ChunkId, Integer> more, ChunkId id, String use) {
    List<String> l = out.computeIfAbsent(id, k -> new ArrayList<>());
    if (l.size() < DamagedObject.MAX_USES) {
      l.add(use);
    } else {
      more.merge(id, 1, Integer::sum);
    }
  }

  /** How to bring the deleted objects back: push the files again, or copy the versions back. */
  private static List<String> restore(List<DamagedObject> deleted, List<String> damagedVersions) {
    if (deleted.isEmpty()) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    boolean content = deleted.stream().anyMatch(d -> d.kind().equals("chunk") || d.kind().equals("snapshot"));
    boolean packs = deleted.stream().anyMatch(d -> d.kind().equals("pack"));
    boolean versions = deleted.stream().anyMatch(d -> d.kind().equals("version"));
    String example = damagedVersions.isEmpty() ? "MODEL:TAG" : damagedVersions.get(0);
    if (content) {
      out.add("push the original files again (ferry push DIR MODEL): a push stores what the store lacks, so it"
          + " restores the deleted chunks and snapshots, and every version that uses them is whole again");
    }
    out.add((content ? "or copy" : "copy") + " the damaged versions back from a store that holds them intact: ferry"
        + " copy " + example + " --store OTHER --to THIS" + (damagedVersions.size() > 1 ? " (and each of the others)"
        : ""));
    if (packs) {
      out.add("a deleted pack comes back only by copy (versions name it by the hash of all its bytes, which a push"
          + " does not make again); until then pushes of the models that list it fail");
    }
    if (versions) {
      out.add("a deleted version object comes back only by copy (its id covers its time and author, which a push"
          + " makes anew); else move the refs that name it to another version (ferry tag, ferry rm)");
    }
    out.add("then: ferry verify");
    return out;
  }
}
