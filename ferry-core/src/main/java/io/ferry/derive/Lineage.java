package io.ferry.derive;

import io.ferry.id.ChunkId;
import io.ferry.error.MissingObjectException;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.ModelSummary;
import io.ferry.repo.Results.VersionRef;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The derivation graph around one version, across models: its parents (the previous version of its model, the
 * version it was derived from, and a derivation source outside its parents) and its children (every version in the
 * store that has it as a parent or as its derivation source). Immutable.
 *
 * <p>Children are found by walking the full history (all parents) of every ref: cost O(versions in the store), one
 * version object read each. Fine for thousands of versions; a store with millions would keep a reverse index.
 *
 * @param self the version asked about
 * @param parents its parents, first parent first
 * @param children versions derived from it or following it, ordered by time
 */
public record Lineage(Node self, List<Node> parents, List<Node> children) {
  public Lineage {
    parents = List.copyOf(parents);
    children = List.copyOf(children);
  }

  /**
   * One version in the graph.
   *
   * @param id its id
   * @param version the version, or null if the store does not hold it
   * @param refs the refs pointing at it ({@code model} for a head, {@code model:tag})
   * @param relation how it relates to {@link Lineage#self()}: {@code previous}/{@code next} (same model's history),
   *     {@code derived-from}/{@code derived} (another model, or the version's derivation source), {@code self}
   */
  public record Node(ChunkId id, Version version, List<String> refs, String relation) {
    public Node {
      refs = List.copyOf(refs);
    }
  }

  /** The lineage of the version {@code refText} names. */
  public static Lineage of(Repository repo, String refText) throws IOException {
    VersionRef start = repo.resolve(refText);
    Map<ChunkId, List<String>> names = new LinkedHashMap<>();
    List<ChunkId> roots = new ArrayList<>();
    for (ModelSummary m : repo.models()) {
      if (m.head() != null) {
        names.computeIfAbsent(m.head(), k -> new ArrayList<>()).add(m.model());
        roots.add(m.head());
      }
      for (Map.Entry<String, ChunkId> t : m.tags().entrySet()) {
        names.computeIfAbsent(t.getValue(), k -> new ArrayList<>()).add(m.model() + ":" + t.getKey());
        roots.add(t.getValue());
      }
    }
    Version self = start.version();
    List<Node> parents = new ArrayList<>();
    Set<ChunkId> parentIds = new HashSet<>();
    for (int i = 0; i < self.parents().size(); i++) {
      ChunkId p = self.parents().get(i);
      parentIds.add(p);
      Version pv = versionOrNull(repo, p);
      // the model's previous version is also the one it was derived from when derived into its own model: the
      // derivation is what the children of that version say, so say it here too
      boolean derivedFrom = self.derivation() != null && p.hex().equals(self.derivation().source());
      boolean sameLine = i == 0 && pv != null && pv.model().equals(self.model()) && !derivedFrom;
      parents.add(new Node(p, pv, names.getOrDefault(p, List.of()), sameLine ? "previous" : "derived-from"));
    }
    // a push's derivation source is the ref text its user gave, which may be 64 characters without being an id
    if (self.derivation() != null && ChunkId.isValid(self.derivation().source())) {
      ChunkId s = ChunkId.parse(self.derivation().source());
      if (!parentIds.contains(s)) {
        parents.add(new Node(s, versionOrNull(repo, s), names.getOrDefault(s, List.of()), "derived-from"));
      }
    }
    String hex = start.id().hex();
    Map<String, Node> children = new TreeMap<>();
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(roots);
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (!seen.add(id)) {
        continue;
      }
      Version v = versionOrNull(repo, id);
      if (v == null) {
        continue;
      }
      todo.addAll(v.parents());
      boolean viaSource = v.derivation() != null && hex.equals(v.derivation().source());
      int at = v.parents().indexOf(start.id());
      if (at >= 0 || viaSource) {
        // the parents' rule seen from the other side: a version's first parent of its model is its previous
        // version unless it is also the version it was derived from
        String rel = at == 0 && v.model().equals(self.model()) && !viaSource ? "next" : "derived";
        children.put(v.time() + " " + id.hex(), new Node(id, v, names.getOrDefault(id, List.of()), rel));
      }
    }
    return new Lineage(new Node(start.id(), self, names.getOrDefault(start.id(), List.of()), "self"), parents,
        new ArrayList<>(children.values()));
  }

  private static Version versionOrNull(Repository repo, ChunkId id) throws IOException {
    try {
      return repo.objects().version(id);
    } catch (MissingObjectException e) {
      return null;
    }
  }
}
