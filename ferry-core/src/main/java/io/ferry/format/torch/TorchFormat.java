package io.ferry.format.torch;

import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.format.TensorFormat;
import io.ferry.format.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * PyTorch checkpoints ({@code torch.save}, zip or legacy format): files ending in {@code .pt} or {@code .pth}, and
 * files of any name (a {@code pytorch_model.bin}) whose first zip entry is {@code <dir>/data.pkl} or that start with
 * the legacy magic number. Read by {@link TorchCheckpoint} without running any of the pickle.
 *
 * <p>The layout: each storage a tensor uses ({@code <dir>/data/<key>}) is one tensor region, named by its entry,
 * typed by its storage and shaped {@code [elements]}, so chunks follow storages; every other byte (local headers,
 * {@code data.pkl}, the small entries, the central directory) is header. The tensor table lists every tensor by its
 * dotted name with its dtype, shape and the bytes of its storage it spans: tensors sharing a storage (tied weights,
 * views) share those bytes and chunks. Non-tensor values and the strides of non-contiguous views are the metadata
 * ({@link TorchMetadata}). Stateless and thread-safe.
 */
public final class TorchFormat implements TensorFormat {
  /** The format's name in snapshots. */
  public static final String NAME = "torch";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> extensions() {
    return Set.of(".pt", ".pth");
  }

  @Override
  public boolean recognises(ByteBuffer head, long size) {
    return TorchCheckpoint.recognises(head);
  }

  @Override
  public FileLayout read(FormatInput in) throws IOException {
    return layout(TorchCheckpoint.read(source(in)), in.name(), in.size());
  }

  /** A {@link ByteSource} over a file handed to a format. */
  public static ByteSource source(FormatInput in) {
    return new ByteSource() {
      @Override
      public String name() {
        return in.name();
      }

      @Override
      public long size() {
        return in.size();
      }

      @Override
      public void readFully(ByteBuffer dst, long position) throws IOException {
        in.readFully(dst, position);
      }
    };
  }

  /** The layout of a checkpoint (see the class comment). */
  public static FileLayout layout(TorchCheckpoint ck, String fileName, long size) {
    // a storage's region has its tensors' type; bytes when they differ (views of one untyped storage as two types)
    // or the storage is not a whole number of elements of it
    Map<String, DType> types = new HashMap<>();
    for (TorchCheckpoint.View v : ck.tensors()) {
      DType t = v.dtype();
      types.merge(v.entry().name(), v.entry().size() * 8 % t.bits() == 0 ? t : DType.U8,
          (a, b) -> a == b ? a : DType.U8);
    }
    List<Region> regions = new ArrayList<>();
    long at = 0;
    List<TorchZip.Entry> storages = new ArrayList<>(ck.storages().values());
    storages.sort(Comparator.comparingLong(TorchZip.Entry::dataStart));
    for (TorchZip.Entry e : storages) {
      if (e.dataStart() > at) {
        regions.add(new Region.Header(at, e.dataStart()));
      }
      DType t = types.get(e.name());
      long elements = e.size() * 8 / t.bits();
      regions.add(new Region.Tensor(e.name(), t, List.of(elements), e.dataStart(), e.dataEnd(),
          elements > 0 && t.bits() >= 8 ? t.bits() / 8 : -1));
      at = e.dataEnd();
    }
    if (size > at) {
      regions.add(new Region.Header(at, size));
    }
    List<TensorInfo> table = new ArrayList<>();
    SortedMap<String, String> strides = new TreeMap<>();
    for (TorchCheckpoint.View v : ck.tensors()) {
      table.add(new TensorInfo(v.name(), v.dtype(), v.tensor().shape(), v.begin(), v.end()));
      if (!v.contiguous()) {
        strides.put(v.name(), v.tensor().strides().toString().replace(" ", ""));
      }
    }
    return new FileLayout(NAME, fileName, size, 0, regions, new TorchMetadata(ck.values(), strides), table);
  }
}
