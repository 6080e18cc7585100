package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VerifyReport;
import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "verify", description = "Check every chunk (checksums and SHA-256) of one version or the whole store.",
    footer = {"%nExit code 3 if anything is corrupt or missing. Each error names the object, and the first model, version"
        + " and file found to use it (model@id//path); a last line says which versions to copy back from another store.", "%nExamples:%n  ferry verify", "  ferry verify llama-7b:prod"})
final class VerifyCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF", arity = "0..1") String ref;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      VerifyReport r = repo.verify(ref, progress());
      if (json) {
        ObjectNode n = object().put("ok", r.ok()).put("versionCount", r.versions())
            .put("chunkCount", r.chunks()).put("checkedBytes", r.bytes());
        ArrayNode errs = n.putArray("errors");
        r.errors().forEach(errs::add);
        ArrayNode damaged = n.putArray("damagedVersions");
        r.damagedVersions().forEach(damaged::add);
        ArrayNode index = n.putArray("indexProblems");
        r.indexProblems().forEach(index::add);
        n.put("repair", r.ok() ? null : repair(r));
        printJson(n);
      } else {
        for (String e : r.problems()) {
          err().println("ferry verify: " + Format.printable(e));
        }
        int problems = r.problems().size();
        out().printf("%s: %d versions, %d chunks, %s checked%s%n", r.ok() ? "ok" : "CORRUPT", r.versions(),
            r.chunks(), Format.bytes(r.bytes()), r.ok() ? "" : ", " + problems + " error" + (problems == 1 ? "" : "s"));
        if (!r.ok()) {
          err().println("ferry verify: " + Format.printable(repair(r)));
        }
      }
      return r.ok() ? 0 : 3;
    }
  }

  /** What to do about damage: one line naming the versions to copy back and how. */
  private static String repair(VerifyReport r) {
    if (r.errors().isEmpty()) {
      return "to repair: ferry index backfill (the small-chunk index only helps pushes find chunks already stored;"
          + " no model is damaged)";
    }
    String index = r.indexProblems().isEmpty() ? "" : "; then ferry index backfill repairs the small-chunk index";
    return repairVersions(r) + index;
  }

  private static String repairVersions(VerifyReport r) {
    if (r.damagedVersions().isEmpty()) {
      return "to repair: copy the models back from a store that holds them intact (ferry copy MODEL:TAG --store OTHER"
          + " --to THIS)";
    }
    java.util.List<String> v = r.damagedVersions();
    return "to repair " + (v.size() == 1 ? v.get(0) : String.join(", ", v.subList(0, Math.min(v.size(), 5)))
        + (v.size() > 5 ? " and " + (v.size() - 5) + " more" : "")) + ": delete the damaged objects named above from"
        + " this store, then copy " + (v.size() == 1 ? "it" : "each") + " back from a store that holds it intact: ferry"
        + " copy " + v.get(0) + " --store OTHER --to THIS";
  }
}
