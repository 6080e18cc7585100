package io.ferry.format.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.List;

/** Test access to {@link TorchZipWriter}'s zip64 threshold. */
public final class TorchZipWriters {
  private TorchZipWriters() {}

  /** Writes the tensors with these bytes, with zip64 fields for every size and offset from {@code zip64At} on. */
  public static void withZip64From(FileChannel out, String what, List<TorchZipWriter.Tensor> tensors, long zip64At,
      List<byte[]> bytes) throws IOException {
    TorchZipWriter w = TorchZipWriter.start(out, what, tensors, zip64At);
    for (byte[] b : bytes) {
      w.tensor(ch -> ch.write(ByteBuffer.wrap(b)));
    }
    w.finish();
  }
}
