package io.ferry.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.id.ChunkId;
import io.ferry.format.TensorInfo;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.version.FileEntry;
import io.ferry.version.Snapshot;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "show", description = "Show a version: files, tensors, metadata, parents, derivation.",
    footer = {"%nExamples:%n  ferry show llama-7b:candidate", "  ferry show llama-7b@3f2a --json"})
final class ShowCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Option(names = "--no-tensors", description = "Do not list tensors.")
  boolean noTensors;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      VersionRef r = repo.resolve(ref);
      Snapshot s = repo.snapshot(r);
      Version v = r.version();
      if (json) {
        printJson(repo, r, s);
        return 0;
      }
      out().println("version   " + r.id().hex());
      out().println("model     " + v.model());
      for (ChunkId p : v.parents()) {
        out().println("parent    " + p.hex());
      }
      out().println("author    " + Format.printable(v.author()));
      out().println("time      " + Format.time(v.time()));
      out().println("message   " + Format.printable(v.message()));
      out().println("size      " + Format.bytes(v.stats().logicalBytes()) + " in " + Format.count(s.files().size(),
          "file") + ", " + Format.count(s.tensorCount(), "tensor") + " (" + Format.bytes(v.stats().newStoredBytes())
          + " new when pushed)");
      v.metadata().forEach((k, val) ->
          out().println("meta      " + Format.printable(k) + " = " + Format.printable(val)));
      if (v.derivation() != null) {
        out().println("derived   " + Format.printable(v.derivation().method() + " " + v.derivation().parameters()
            + (v.derivation().source() == null ? "" : " from " + v.derivation().source())));
        v.derivation().metrics().forEach((k, val) -> out().println("metric    " + Format.printable(k) + " = "
            + Format.metric(k, val, "%s")));
        String details = v.derivation().parameters().get("details");
        if (details != null && s.file(details).isPresent()) {
          out().println("details   " + v.model() + "@" + r.id().shortHex(12) + "//" + details
              + " (per-tensor metrics; ferry cat to read it)");
        }
      }
      for (FileEntry f : s.files()) {
        out().printf("%nfile %s  %s  %s  sha256 %s%n", Format.printable(f.path()), Format.bytes(f.size()), f.format(), f.sha256());
        f.metadata().forEach((k, val) -> out().println("  metadata " + Format.printable(k) + " = "
            + Format.printable(shortened(val))));
        if (!noTensors) {
          // the type column is 8 wide unless a type name of the file is longer (F8_E4M3FNUZ)
          int typeWidth = 8;
          for (TensorInfo t : f.tensors()) {
            typeWidth = Math.max(typeWidth, t.dtype().name().length());
          }
          String line = "  %s %-" + typeWidth + "s %-20s %s%n";
          for (TensorInfo t : f.tensors()) {
            out().printf(line, Format.padded(Format.printable(t.name()), 48), t.dtype(), t.shape(),
                Format.bytes(f.tensorBytes(t)));
          }
        }
      }
    }
    return 0;
  }

  /**
   * Prints the version with its files, one tensor at a time: a file of 490,000 tensors as one tree and then one
   * string took several times the snapshot's size, past the default heap (the text listing printed it).
   */
  private void printJson(Repository repo, VersionRef r, Snapshot s) throws IOException {
    ObjectNode head = JsonOut.version(object(), r.id(), r.version(), repo.refsOf(
        io.ferry.version.RefSpec.parse(ref).model()).getOrDefault(r.id(), List.of()));
    try (JsonGenerator g = json().writer().without(JsonGenerator.Feature.AUTO_CLOSE_TARGET).createGenerator(out())) {
      g.writeStartObject();
      writeFields(g, head);
      g.writeArrayFieldStart("files");
      for (FileEntry f : s.files()) {
        g.writeStartObject();
        // the file's fields as JsonOut has them, its tensors (the last field) written one by one
        writeFields(g, JsonOut.file(object(), f, false).without("tensors"));
        g.writeArrayFieldStart("tensors");
        if (!noTensors) {
          for (TensorInfo t : f.tensors()) {
            json().writeTree(g, JsonOut.tensor(object(), f, t));
          }
        }
        g.writeEndArray();
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    }
    out().println();
  }

  private static void writeFields(JsonGenerator g, ObjectNode n) throws IOException {
    for (var it = n.fields(); it.hasNext(); ) {
      var e = it.next();
      g.writeFieldName(e.getKey());
      json().writeTree(g, e.getValue());
    }
  }

  /** Metadata values longer than this are cut in the text listing ({@code --json} has them whole). */
  static final int MAX_SHOWN_VALUE = 200;

  /**
   * A metadata value as the text listing shows it: whole, or its first characters and how long it is (a checkpoint's
   * random state is a value of several KiB, which filled the terminal).
   */
  static String shortened(String value) {
    if (value.length() <= MAX_SHOWN_VALUE) {
      return value;
    }
    int end = MAX_SHOWN_VALUE - 40;
    if (Character.isHighSurrogate(value.charAt(end - 1))) {
      end--;
    }
    return value.substring(0, end) + "... (" + value.length() + " characters; --json shows it whole)";
  }
}
