package io.ferry.format.toy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DirectoryFormat;
import io.ferry.format.ModelTree;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;

/**
 * A made-up directory format registered through {@code META-INF/services}: a file named {@code toy.index} lists, one
 * per line, the toy shards beside it, each of which must be there and read as a toy file.
 */
public final class ToyIndexFormat implements DirectoryFormat {
  @Override
  public String name() {
    return "toy-index";
  }

  @Override
  public void check(ModelTree tree) throws IOException {
    for (ModelTree.Entry e : tree.files()) {
      if (!e.baseName().equals("toy.index")) {
        continue;
      }
      ByteBuffer b = ByteBuffer.allocate((int) e.size());
      try (FileChannel ch = tree.open(e.path())) {
        while (b.hasRemaining() && ch.read(b, b.position()) >= 0) {
          // read it all
        }
      }
      for (String shard : new String(b.array(), StandardCharsets.UTF_8).split("\n")) {
        String path = e.directory() + shard.strip();
        boolean ok = tree.files().stream().anyMatch(f -> f.path().equals(path) && f.hasFormat("toy"));
        if (!shard.isBlank() && !ok) {
          throw new InvalidInputException(e.path() + ": shard '" + shard.strip() + "' is missing or not a toy file");
        }
      }
    }
  }
}
