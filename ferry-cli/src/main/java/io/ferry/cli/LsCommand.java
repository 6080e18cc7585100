package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.ModelSummary;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;

@Command(name = "ls", description = "List models: head, tags, logical size, number of versions.",
    footer = {"%nExample:%n  ferry ls --json"})
final class LsCommand extends StoreCommand {
  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      // a ref whose log is damaged ends no listing: the other models are listed, and the damage is said
      List<io.ferry.error.CorruptRefException> damaged = new java.util.ArrayList<>();
      List<ModelSummary> models = repo.models(damaged::add);
      // refs whose logs are not files are left out of the listing (the others are listed); said, so that no
      // model vanishes silently
      for (String ref : repo.unreadableRefs()) {
        notices().warning("ref '" + ref + "' cannot be read (its log is not a file) and is not listed; ferry verify"
            + " names the damage");
      }
      if (json) {
        ArrayNode arr = json().createArrayNode();
        for (ModelSummary m : models) {
          ObjectNode n = arr.addObject().put("model", m.model())
              .put("head", m.head() == null ? null : m.head().hex()).put("logicalBytes", m.logicalBytes())
              .put("versionCount", m.versions());
          ObjectNode t = n.putObject("tags");
          m.tags().forEach((k, v) -> t.put(k, v.hex()));
        }
        printJson(arr);
        return damage(damaged);
      }
      if (models.isEmpty() && damaged.isEmpty()) {
        out().println("no models in " + repo.uri());
        return 0;
      }
      out().printf("%-32s %-12s %10s %8s  %s%n", "MODEL", "HEAD", "SIZE", "VERSIONS", "TAGS");
      for (ModelSummary m : models) {
        StringBuilder tags = new StringBuilder();
        for (Map.Entry<String, ChunkId> e : m.tags().entrySet()) {
          tags.append(tags.length() == 0 ? "" : ", ").append(e.getKey()).append('=').append(e.getValue().shortHex(8));
        }
        out().printf("%-32s %-12s %10s %8d  %s%n", m.model(), m.head() == null ? "-" : m.head().shortHex(12),
            Format.bytes(m.logicalBytes()), m.versions(), tags);
      }
      return damage(damaged);
    }
  }

  /**
   * Warns of each ref whose log is damaged, which the listing left out (as refs whose logs are not files): the other
   * models are listed, and ls exits 0; verify reports the damage (exit 3), gc stops at it.
   */
  private int damage(List<io.ferry.error.CorruptRefException> damaged) {
    for (io.ferry.error.CorruptRefException e : damaged) {
      notices().warning("ref '" + e.ref() + "' is not listed: " + e.getMessage() + "; ferry verify names the damage");
    }
    return 0;
  }
}
