package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.Change;
import io.ferry.repo.Results.Diff;
import io.ferry.repo.Results.FileDiff;
import io.ferry.repo.Results.MetadataDiff;
import io.ferry.repo.Results.TensorDiff;
import java.io.IOException;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "diff", description = "Tensor-level differences between two versions, then other files.",
    footer = {"%nExample:%n  ferry diff llama-7b@3f2a llama-7b:candidate"})
final class DiffCommand extends StoreCommand {
  /** Characters of a metadata value a line shows. */
  private static final int VALUE_CHARS = 100;

  @Parameters(index = "0", paramLabel = "A") String a;

  @Parameters(index = "1", paramLabel = "B") String b;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      Diff d = repo.diff(a, b);
      if (json) {
        ObjectNode n = object().put("a", d.a().hex()).put("b", d.b().hex()).put("unchangedTensorCount",
            d.unchangedTensors());
        ArrayNode ts = n.putArray("tensors");
        for (TensorDiff t : d.tensors()) {
          ObjectNode tn = ts.addObject().put("name", t.name()).put("change", JsonOut.value(t.change()));
          if (t.file() != null) {
            tn.put("file", t.file());
          }
          if (t.dtypeA() != null) {
            tn.put("dtypeA", t.dtypeA().name()).putPOJO("shapeA", t.shapeA()).put("bytesA", t.bytesA());
          }
          if (t.dtypeB() != null) {
            tn.put("dtypeB", t.dtypeB().name()).putPOJO("shapeB", t.shapeB()).put("bytesB", t.bytesB());
          }
          if (t.renamedFrom() != null) {
            tn.put("renamedFrom", t.renamedFrom());
          }
          if (t.dtypeA() != null && t.dtypeB() != null) {
            tn.put("sameBytes", t.sameBytes());
          }
        }
        ArrayNode fs = n.putArray("files");
        for (FileDiff f : d.files()) {
          ObjectNode fn = fs.addObject().put("path", f.path()).put("change", JsonOut.value(f.change()))
              .put("sizeA", f.sizeA()).put("sizeB", f.sizeB());
          if (f.renamedFrom() != null) {
            fn.put("renamedFrom", f.renamedFrom());
          }
          if (f.formatA() != null) {
            fn.put("formatA", f.formatA()).put("formatB", f.formatB()).put("sameBytes", f.sameBytes());
          }
        }
        ArrayNode mv = n.putArray("movedTensors");
        d.moved().forEach(m -> mv.addObject().put("name", m.name()).put("fileA", m.fileA()).put("fileB", m.fileB()));
        ArrayNode ms = n.putArray("metadata");
        for (MetadataDiff m : d.metadata()) {
          ms.addObject().put("path", m.path()).put("key", m.key()).put("change", JsonOut.value(m.change()))
              .put("valueA", m.valueA()).put("valueB", m.valueB());
        }
        printJson(n);
        return 0;
      }
      for (TensorDiff t : d.tensors()) {
        // a name several files hold is shown with its file
        String shown = Format.printable(t.file() == null ? t.name() : t.name() + " (" + t.file() + ")");
        String name = Format.padded(shown, 48);
        switch (t.change()) {
          case ADDED -> out().printf("+ %s %s %s%n", name, t.dtypeB(), t.shapeB());
          case REMOVED -> out().printf("- %s %s %s%n", name, t.dtypeA(), t.shapeA());
          case CHANGED -> out().printf("~ %s %s %s (values changed)%n", name, t.dtypeB(), t.shapeB());
          case RESHAPED -> out().printf("~ %s shape %s -> %s%s%n", name, t.shapeA(), t.shapeB(),
              t.sameBytes() ? " (same bytes)" : "");
          case DTYPE_CHANGED -> out().printf("~ %s dtype %s -> %s%s%s%n", name, t.dtypeA(),
              t.dtypeB(), t.shapeA().equals(t.shapeB()) ? "" : ", shape " + t.shapeA() + " -> " + t.shapeB(),
              t.sameBytes() ? " (same bytes)" : "");
          case RENAMED -> out().printf("~ %s -> %s (renamed, %s %s)%n", Format.printable(t.renamedFrom()), shown,
              t.dtypeB(), t.shapeB());
        }
      }
      for (FileDiff f : d.files()) {
        if (f.change() == Change.RENAMED) {
          out().printf("~ file %s -> %s (renamed, %s)%n", Format.printable(f.renamedFrom()),
              Format.printable(f.path()), Format.bytes(f.sizeB()));
          continue;
        }
        if (f.sameBytes()) {
          out().printf("~ file %s (same bytes, stored as %s -> %s)%n", Format.printable(f.path()), f.formatA(),
              f.formatB());
          continue;
        }
        char c = switch (f.change()) {
          case ADDED -> '+';
          case REMOVED -> '-';
          default -> '~';
        };
        out().printf("%c file %s (%s -> %s%s)%n", c, Format.printable(f.path()), Format.bytes(f.sizeA()),
            Format.bytes(f.sizeB()), f.formatA() == null ? "" : ", stored as " + f.formatA() + " -> " + f.formatB());
      }
      for (MetadataDiff m : d.metadata()) {
        String where = "metadata " + Format.printable(m.path()) + " " + Format.printable(m.key());
        switch (m.change()) {
          case ADDED -> out().printf("+ %s = %s%n", where, shown(m.valueB()));
          case REMOVED -> out().printf("- %s = %s%n", where, shown(m.valueA()));
          default -> out().printf("~ %s: %s -> %s%n", where, shown(m.valueA()), shown(m.valueB()));
        }
      }
      int t = d.tensors().size();
      int f = d.files().size();
      // a model sharded anew moves every tensor: counted here, listed by --json
      String moved = d.moved().isEmpty() ? "" : " (" + d.moved().size() + " moved to another file)";
      out().printf("%d %s changed, %d unchanged%s; %d %s%n", t, t == 1 ? "tensor" : "tensors", d.unchangedTensors(),
          moved, f, f == 1 ? "file differs" : "files differ");
    }
    return 0;
  }

  /** A metadata value for a line: printable, and cut at {@link #VALUE_CHARS} characters ({@code --json} has it all). */
  private static String shown(String v) {
    String p = Format.printable(v);
    return p.length() <= VALUE_CHARS ? p : p.substring(0, VALUE_CHARS) + "… (" + v.length() + " characters)";
  }
}
