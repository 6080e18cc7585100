package io.ferry.spark.source;

import io.ferry.error.InvalidInputException;
import io.ferry.format.torch.TorchMetadata;
import io.ferry.id.ChunkId;
import io.ferry.read.Location;
import io.ferry.read.Locator;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.spark.store.StoreCache;
import io.ferry.store.ChunkStore;
import io.ferry.version.FileEntry;
import io.ferry.version.RefSpec;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.types.StructType;

/**
 * Plans a {@code ferry} read on the driver: resolves the target, reads the version's snapshot (or walks the versions of
 * a model), applies the pushed filters, and cuts the work into partitions that carry only a {@link ReadPlan}: the store
 * spec, version ids and chunk slices. Executors open the store themselves.
 */
final class FerryScan implements Scan, Batch {
  /** Versions per partition of the versions table, and per partition of the tensors table. */
  static final int VERSIONS_PER_PARTITION = 512;
  static final int TENSOR_VERSIONS_PER_PARTITION = 8;
  /** The most bytes of a chunk row: what one array holds, less a margin, as core's readers allow. */
  static final long MAX_ROW_BYTES = Integer.MAX_VALUE - 64;

  private final ReadOptions options;
  private final StructType schema;
  private final Filter[] filters;

  FerryScan(ReadOptions options, StructType schema, Filter[] filters) {
    this.options = options;
    this.schema = schema;
    this.filters = filters;
  }

  @Override
  public StructType readSchema() {
    return schema;
  }

  @Override
  public String description() {
    return "ferry " + options.kind() + " of " + options.target() + " in " + options.store().uri() + ", pushed "
        + Arrays.toString(filters);
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    return new FerryReaderFactory(schema.fieldNames(), options.sha256());
  }

  @Override
  public InputPartition[] planInputPartitions() {
    try {
      Repository repo = StoreCache.repository(options.store());
      return switch (options.kind()) {
        case CHUNKS -> planChunks(repo);
        case VERSIONS -> planVersions(repo, VERSIONS_PER_PARTITION);
        case TENSORS -> planVersions(repo, TENSOR_VERSIONS_PER_PARTITION);
      };
    } catch (IOException e) {
      throw new UncheckedIOException("ferry: planning the read of '" + options.target() + "' in "
          + options.store() + " failed: " + e.getMessage(), e);
    }
  }

  private InputPartition[] planChunks(Repository repo) throws IOException {
    VersionRef v = repo.resolve(options.target());
    String model = v.version().model();
    String id = v.id().hex();
    Snapshot s = repo.objects().snapshot(v.version().snapshot());
    List<String> columns = Arrays.asList(schema.fieldNames());
    boolean readsBytes = columns.contains("bytes") || columns.contains("values");
    List<ChunkSlice> kept = new ArrayList<>();
    for (ChunkSlice c : ChunkSlice.of(s)) {
      Map<String, String> known = Map.of("model", model, "version", id, "file", c.file(), "tensor", c.tensor(),
          "dtype", c.dtype());
      if (PlanFilter.mayPass(filters, known)) {
        if (readsBytes && c.length() > 0) {
          contiguous(s.file(c.file()).orElseThrow(), c.tensor());
          fitsARow(c, model + "@" + id);
        }
        kept.add(c);
      }
    }
    Locator locator = options.locality() ? repo.objects().locator(v.version().packs()) : null;
    ChunkStore store = repo.backend().chunks();
    List<InputPartition> parts = new ArrayList<>();
    List<ChunkSlice> group = new ArrayList<>();
    long bytes = 0;
    for (ChunkSlice c : kept) {
      if (!group.isEmpty() && bytes + c.length() > options.partitionBytes()) {
        parts.add(slices(model, id, group, locator, store));
        group = new ArrayList<>();
        bytes = 0;
      }
      group.add(c);
      bytes += c.length();
    }
    if (!group.isEmpty()) {
      parts.add(slices(model, id, group, locator, store));
    }
    return parts.toArray(new InputPartition[0]);
  }

  /**
   * Refuses the bytes of a view of a PyTorch storage that is not a row-major run of it, as core's reader does: the
   * bytes it spans in the file are not its elements in order, so they were served, and decoded as values, as if they
   * were.
   */
  private static void contiguous(FileEntry f, String tensor) throws InvalidInputException {
    String strides = TorchMetadata.strides(f.format(), f.metadata(), tensor);
    if (TorchMetadata.UNRECORDED.equals(strides)) {
      throw new InvalidInputException("tensor '" + tensor + "' of " + f.path() + " may be a non-contiguous view (its"
          + " strides are not recorded), so its bytes in the file may not be its elements; select no bytes or values"
          + " of it, or pull the version with --as safetensors to get it contiguous");
    }
    if (strides != null) {
      throw new InvalidInputException("tensor '" + tensor + "' of " + f.path() + " is a non-contiguous view (strides "
          + strides + " in elements), so its bytes in the file are not its elements in order; select no bytes or"
          + " values of it, or pull the version with --as safetensors to get it contiguous");
    }
  }

  /**
   * Refuses a slice whose bytes no binary value holds (2 GiB), before an executor allocates them: no chunk Ferry writes
   * is that big (tensors are cut into chunks of at most 64 MiB), so only a damaged or crafted snapshot names one.
   */
  private static void fitsARow(ChunkSlice c, String version) throws InvalidInputException {
    if (c.length() > MAX_ROW_BYTES) {
      throw new InvalidInputException("tensor '" + c.tensor() + "' of " + version + "//" + c.file() + ": chunk "
          + c.chunk() + " holds " + c.length() + " bytes of it, more than a row's bytes hold (" + MAX_ROW_BYTES
          + "); no chunk Ferry writes is that big, so the snapshot is damaged or was not written by Ferry");
    }
  }

  private ReadPlan slices(String model, String version, List<ChunkSlice> group, Locator locator, ChunkStore store)
      throws IOException {
    String[] hosts = new String[0];
    if (locator != null) {
      ChunkSlice first = group.stream().filter(c -> !c.chunk().isEmpty()).findFirst().orElse(null);
      if (first != null) {
        Location loc = locator.locate(ChunkId.parse(first.chunk()));
        long length = loc.packed() ? loc.length() : first.length();
        hosts = store.hosts(loc.object(), loc.offset(), length).toArray(new String[0]);
      }
    }
    return new ReadPlan(options.store(), TableKind.CHUNKS, model, List.of(version), group, hosts, filters);
  }

  /** The versions of the target (one version's history, a model's, or every model's), as partitions of ids. */
  private InputPartition[] planVersions(Repository repo, int perPartition) throws IOException {
    Map<ChunkId, List<String>> tags = new HashMap<>();
    List<ChunkId> starts = new ArrayList<>();
    String only = null;
    String t = options.target();
    if (t.isEmpty() || t.equals("*")) {
      for (var m : repo.models()) {
        repo.refsOf(m.model()).forEach((id, names) -> tags.computeIfAbsent(id, k -> new ArrayList<>()).addAll(names));
      }
      starts.addAll(tags.keySet());
    } else {
      RefSpec spec = RefSpec.parse(t);
      if (spec.path() != null) {
        repo.resolve(t); // refuses a file path where a version is expected, as the chunks table does
      }
      only = spec.model();
      repo.refsOf(spec.model()).forEach((id, names) -> tags.computeIfAbsent(id, k -> new ArrayList<>())
          .addAll(names));
      if (tags.isEmpty()) {
        repo.resolve(spec); // a model without refs is no model: refused as the chunks table refuses it
      }
      if (spec.tag() == null && !spec.selectsVersion()) {
        starts.addAll(tags.keySet());
      } else {
        starts.add(repo.resolve(spec).id());
      }
    }
    Map<ChunkId, Version> found = walk(repo, starts, only);
    List<String> ids = new ArrayList<>();
    for (Map.Entry<ChunkId, Version> e : found.entrySet()) {
      Map<String, String> known = Map.of("model", e.getValue().model(), "id", e.getKey().hex(), "version",
          e.getKey().hex());
      if (PlanFilter.mayPass(filters, known)) {
        ids.add(e.getKey().hex());
      }
    }
    Map<String, List<String>> tagsByHex = new HashMap<>();
    tags.forEach((id, names) -> tagsByHex.put(id.hex(), List.copyOf(names)));
    List<InputPartition> parts = new ArrayList<>();
    for (int i = 0; i < ids.size(); i += perPartition) {
      List<String> group = List.copyOf(ids.subList(i, Math.min(ids.size(), i + perPartition)));
      Map<String, List<String>> groupTags = new HashMap<>();
      for (String id : group) {
        groupTags.put(id, tagsByHex.getOrDefault(id, List.of()));
      }
      parts.add(new ReadPlan(options.store(), options.kind(), only, group, List.of(), new String[0], filters,
          groupTags));
    }
    return parts.toArray(new InputPartition[0]);
  }

  /** Every version reachable from {@code starts} through parents, staying within {@code model} when it is given. */
  private static Map<ChunkId, Version> walk(Repository repo, List<ChunkId> starts, String model) throws IOException {
    Map<ChunkId, Version> out = new LinkedHashMap<>();
    Set<ChunkId> seen = new HashSet<>();
    Deque<ChunkId> todo = new ArrayDeque<>(starts);
    while (!todo.isEmpty()) {
      ChunkId id = todo.pop();
      if (!seen.add(id)) {
        continue;
      }
      Version v = repo.objects().version(id);
      if (model != null && !v.model().equals(model)) {
        continue;
      }
      out.put(id, v);
      todo.addAll(v.parents());
    }
    return out;
  }
}
