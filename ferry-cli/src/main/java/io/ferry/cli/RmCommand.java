package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.TagResult;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "rm", description = {"Remove a model (its head and tags) or one version of it (MODEL@ID); the refs'"
    + " logs are kept, and gc frees what only they used once the grace period has passed.",
    "A version can be removed only when no newer version builds on it: when the head points at it, the head moves"
        + " back to its parent."},
    footer = {"%nExamples:%n  ferry rm llama-7b-scratch",
        "  ferry rm llama-7b-old --force   # even with tags or derived models",
        "  ferry rm llama-7b@3f2a   # a bad push: the head goes back to its parent"})
final class RmCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "MODEL[@ID]") String model;

  @Option(names = "--force", description = "Remove even when tags point at it, or other models derive from it.")
  boolean force;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      if (model.contains("@")) {
        List<TagResult> moved = repo.removeVersion(model, force);
        if (json) {
          ObjectNode n = object().put("ref", model);
          var refs = n.putArray("moved");
          for (TagResult r : moved) {
            refs.addObject().put("ref", JsonOut.userRef(r.ref())).put("old", r.oldId() == null ? null
                : r.oldId().hex()).put("new", r.newId() == null ? null : r.newId().hex());
          }
          printJson(n);
        } else {
          for (TagResult r : moved) {
            out().println(r.newId() == null
                ? "removed " + Format.printable(JsonOut.userRef(r.ref())) + " (was " + r.oldId().shortHex(12) + ")"
                : "moved " + Format.printable(JsonOut.userRef(r.ref())) + " back to " + r.newId().shortHex(12)
                    + " (was " + r.oldId().shortHex(12) + ")");
          }
        }
        return 0;
      }
      Map<String, ChunkId> removed = repo.removeModel(model, force);
      if (json) {
        ObjectNode n = object().put("model", model);
        ObjectNode refs = n.putObject("removed");
        removed.forEach((ref, id) -> refs.put(ref, id.hex()));
        printJson(n);
      } else {
        for (Map.Entry<String, ChunkId> e : removed.entrySet()) {
          out().println("removed " + Format.printable(e.getKey()) + " (was " + e.getValue().shortHex(12) + ")");
        }
      }
    }
    return 0;
  }
}
