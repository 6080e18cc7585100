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
      // so does a model whose head version (or one of its history) is damaged: listed without size or count
      List<io.ferry.error.FerryException> damagedVersions = new java.util.ArrayList<>();
      List<ModelSummary> models = repo.models(damaged::add, damagedVersions::add);
      // refs whose logs are not files are left out of the listing (the others are listed); said, so that no
      // model vanishes silently
      List<String> unreadable = repo.unreadableRefs();
      for (String ref : unreadable) {
        notices().warning("ref '" + ref + "' cannot be read (its log is not a file) and is not listed; ferry verify"
            + " names the damage");
      }
      if (json) {
        ArrayNode arr = json().createArrayNode();
        for (ModelSummary m : models) {
          ObjectNode n = arr.addObject().put("model", m.model())
              .put("head", m.head() == null ? null : m.head().hex())
              .put("logicalBytes", m.logicalBytes() == ModelSummary.UNKNOWN ? null : m.logicalBytes())
              .put("versionCount", m.versions() == ModelSummary.UNKNOWN ? null : m.versions());
          ObjectNode t = n.putObject("tags");
          m.tags().forEach((k, v) -> t.put(k, v.hex()));
        }
        printJson(arr);
        return damage(damaged, damagedVersions, unreadable);
      }
      if (models.isEmpty() && damaged.isEmpty() && unreadable.isEmpty()) {
        out().println("no models in " + repo.uri());
        return 0;
      }
      out().printf("%-32s %-12s %10s %8s  %s%n", "MODEL", "HEAD", "SIZE", "VERSIONS", "TAGS");
      for (ModelSummary m : models) {
        StringBuilder tags = new StringBuilder();
        for (Map.Entry<String, ChunkId> e : m.tags().entrySet()) {
          tags.append(tags.length() == 0 ? "" : ", ").append(e.getKey()).append('=').append(e.getValue().shortHex(12));
        }
        out().printf("%-32s %-12s %10s %8s  %s%n", m.model(), m.head() == null ? "-" : m.head().shortHex(12),
            m.logicalBytes() == ModelSummary.UNKNOWN ? "?" : Format.bytes(m.logicalBytes()),
            m.versions() == ModelSummary.UNKNOWN ? "?" : Long.toString(m.versions()), tags);
      }
      return damage(damaged, damagedVersions, unreadable);
    }
  }

  /**
   * Warns of each ref whose log is damaged, which the listing left out (as refs whose logs are not files), naming the
   * ref, the store and the entry, and of each model whose versions are damaged or missing, which the listing shows
   * without size or count, naming the object. The other models are listed; ls then exits 3 for any of these damages
   * (unreadable refs included), so that a script sees them; verify reports them, gc stops at them.
   */
  private int damage(List<io.ferry.error.CorruptRefException> damaged,
      List<io.ferry.error.FerryException> damagedVersions, List<String> unreadable) {
    for (io.ferry.error.CorruptRefException e : damaged) {
      notices().warning("ref '" + e.ref() + "' is not listed: " + e.getMessage() + "; " + verifyCommand(null)
          + " names the damage");
    }
    for (io.ferry.error.FerryException e : damagedVersions) {
      notices().warning(ErrorText.of(e) + "; run '" + verifyCommand(null)
          + "' for details and how to repair the store");
    }
    return damaged.isEmpty() && damagedVersions.isEmpty() && unreadable.isEmpty() ? 0
        : io.ferry.error.FerryException.Kind.INTEGRITY.exitCode();
  }
}
