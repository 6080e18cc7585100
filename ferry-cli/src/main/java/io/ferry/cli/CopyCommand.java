package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.Ferry;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.CopyResult;
import io.ferry.scan.LocalTrees;
import io.ferry.store.StoreOptions;
import io.ferry.version.RefSpec;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "copy", description = "Copy a version (and the history the target lacks) to another store.",
    footer = {"%nSends only the chunks the target lacks, then the version. Then moves the",
        "target's head if it is absent or behind the version (else exit 4, unless a",
        "tag is copied, which leaves it), and the tag of MODEL:TAG whatever version",
        "it named there, as ferry tag moves one: the output names that version, and a",
        "rollback of MODEL:TAG in the target takes the tag back to it.",
        "%nExamples:%n  ferry copy llama-7b:prod --to hdfs://namenode:8020/ferry",
        "  ferry copy llama-7b:prod --store hdfs://namenode:8020/ferry \\",
        "      --to s3://models/ferry --verify"})
final class CopyCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Option(names = "--to", required = true, paramLabel = "STORE", description = "Target store URI or path (created if missing).")
  String to;

  @Option(names = "--verify", description = "Check the SHA-256 of every chunk sent, and then the whole version as the"
      + " target holds it (what it already had too) before any ref moves (frame checksums are always checked).")
  boolean verify;

  @Override
  int run() throws IOException {
    if (to.isEmpty()) {
      // as for an empty --store: it said "empty store location" (exit 1), naming no option
      throw usage("--to is empty (an unset shell variable?): name the store to copy to");
    }
    try (Repository src = openRepo()) {
      // a ref that names nothing fails here, before a missing target store is created for it
      src.resolve(ref);
      Path made = Ferry.absentLocalStore(to);
      try {
        try (Repository dst = Ferry.open(to, StoreOptions.createIfMissing().withSettings(settings()),
            repositoryOptions())) {
          copy(src, dst);
        }
      } catch (IOException | RuntimeException e) {
        if (made != null) {
          discard(made, e);
        }
        throw e;
      }
    }
    return 0;
  }

  /** Removes the store a failed copy created; a failure to remove it is added to the copy's own error. */
  private static void discard(Path store, Exception cause) {
    try {
      LocalTrees.delete(store);
    } catch (IOException | RuntimeException e) {
      cause.addSuppressed(new IOException("could not remove the store " + store + " that this copy created: " + e, e));
    }
  }

  private void copy(Repository src, Repository dst) throws IOException {
    Map<String, ChunkId> before = refValues(dst, RefSpec.parse(ref).model());
    CopyResult r = src.copyTo(ref, dst, verify, progress());
    List<String> moved = r.refsMoved().stream().map(JsonOut::userRef).toList();
    if (json) {
      ObjectNode n = object().put("version", r.version().hex()).put("sentVersionCount", r.versionsSent())
          .put("sentObjectCount", r.objectsSent()).put("sentBytes", r.bytesSent()).putPOJO("movedRefs", moved);
      ObjectNode was = n.putObject("previousValues");
      for (String m : moved) {
        if (before.get(m) != null) {
          was.put(m, before.get(m).hex());
        }
      }
      printJson(n);
    } else {
      List<String> shown = new ArrayList<>();
      for (String m : moved) {
        ChunkId old = before.get(m);
        shown.add(Format.printable(m) + (old == null ? "" : " (was " + old.shortHex(12) + ")"));
      }
      out().printf("copied %s (%s) to %s: %s, %s, %s sent; moved %s%n", Format.printable(ref),
          r.version().shortHex(12), dst.uri(), Format.count(r.versionsSent(), "version"),
          Format.count(r.objectsSent(), "object"), Format.bytes(r.bytesSent()),
          shown.isEmpty() ? "no refs" : String.join(", ", shown));
    }
  }

  /**
   * What the target's refs of {@code model} name before the copy, by ref as users write them, so that the output says
   * what a moved tag pointed at (a copy moves the target's tag whatever version it was on). Empty when the target
   * cannot tell: the copy itself says what is wrong with its refs.
   */
  private static Map<String, ChunkId> refValues(Repository dst, String model) {
    Map<String, ChunkId> out = new HashMap<>();
    try {
      dst.refsOf(model).forEach((id, names) -> names.forEach(n -> out.put(n, id)));
    } catch (IOException e) {
      out.clear();
    }
    return out;
  }
}
