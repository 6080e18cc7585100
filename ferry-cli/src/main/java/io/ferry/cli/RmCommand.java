package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import java.io.IOException;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "rm", description = "Remove a model: its head and tags (their logs are kept); gc frees what only it "
    + "used once the grace period has passed.",
    footer = {"%nExamples:%n  ferry rm llama-7b-scratch", "  ferry rm llama-7b-old --force   # even with tags, or "
        + "when other models derive from it"})
final class RmCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "MODEL") String model;

  @Option(names = "--force", description = "Remove even when the model has tags or other models derive from it.")
  boolean force;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
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
