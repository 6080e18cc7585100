package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VerifyReport;
import java.io.IOException;
import io.ferry.repo.RepairOptions;
import io.ferry.repo.Results.DamagedObject;
import io.ferry.repo.Results.RepairReport;
import io.ferry.store.RefNames;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "verify", description = "Check every chunk (checksums and SHA-256) of one version or the whole store.",
    footer = {"%nExit code 3 if anything is corrupt or missing. Each error names the object, and the first model, version"
        + " and file found to use it (model@id//path); a last line says which versions to copy back from another store.",
        "%nWith --delete-damaged, the objects whose bytes fail their own id (chunks, snapshots, versions) are deleted,"
        + " each checked again first, under a gc lease; then a push of the same files (or a copy from a store that"
        + " holds them) stores them again. Never deleted: an object that could not be read (verify stops first,"
        + " exit 1), one of a kind or version this Ferry does not know, a healthy one, and a pack unless"
        + " --delete-damaged-packs. Exit 3 while anything is damaged or missing, also right after deleting.",
        "%nExamples:%n  ferry verify", "  ferry verify llama-7b:prod",
        "  ferry verify --delete-damaged", "  ferry push ./llama-7b llama-7b   # stores again what was deleted"})
final class VerifyCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF", arity = "0..1") String ref;

  @Option(names = "--delete-damaged", description = "Delete the objects whose stored bytes fail their own id, so that"
      + " pushing the files again (or copying from another store) restores them; report each with what it held.")
  boolean deleteDamaged;

  @Option(names = "--delete-damaged-packs", description = "As --delete-damaged, and delete damaged packs too: their"
      + " healthy chunks go with them, and only ferry copy from a store that holds them intact brings them back.")
  boolean deleteDamagedPacks;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      if (deleteDamaged || deleteDamagedPacks) {
        return repair(repo.deleteDamaged(ref, deleteDamagedPacks ? RepairOptions.WITH_PACKS : RepairOptions.LOOSE,
            progress()));
      }
      VerifyReport r = repo.verify(ref, progress());
      if (json) {
        ObjectNode n = reportJson(r);
        n.put("repair", r.ok() ? null : repair(r));
        printJson(n);
      } else {
        printReport(r);
        if (!r.ok()) {
          err().println("ferry verify: " + Format.printable(repair(r)));
        }
      }
      return r.ok() ? 0 : 3;
    }
  }

  /** Prints verify's errors on stderr, one a line, and its summary line on stdout. */
  private void printReport(VerifyReport r) {
    for (String e : r.problems()) {
      err().println("ferry verify: " + Format.printable(e));
    }
    out().printf("%s: %s, %s, %s checked%s%n", r.ok() ? "ok" : "CORRUPT", Format.count(r.versions(), "version"),
        Format.count(r.chunks(), "chunk"), Format.bytes(r.bytes()),
        r.ok() ? "" : ", " + Format.count(r.problems().size(), "error"));
  }

  /** The fields of {@code --json} that every verify prints. */
  private ObjectNode reportJson(VerifyReport r) {
    ObjectNode n = object().put("ok", r.ok()).put("versionCount", r.versions())
        .put("chunkCount", r.chunks()).put("checkedBytes", r.bytes());
    ArrayNode errs = n.putArray("errors");
    r.errors().forEach(errs::add);
    ArrayNode damaged = n.putArray("damagedVersions");
    r.damagedVersions().forEach(damaged::add);
    ArrayNode index = n.putArray("indexProblems");
    r.indexProblems().forEach(index::add);
    return n;
  }

  private int repair(RepairReport rep) throws IOException {
    VerifyReport r = rep.verify();
    if (json) {
      ObjectNode n = reportJson(r);
      objects(n.putArray("deleted"), rep.deleted());
      objects(n.putArray("kept"), rep.kept());
      ArrayNode restore = n.putArray("restore");
      rep.restore().forEach(restore::add);
      // once objects were deleted, restore says what to do (as the text output prints it instead of the repair line):
      // the repair line would still say to delete them
      n.put("repair", r.ok() || !rep.restore().isEmpty() ? null : repair(r));
      printJson(n);
      return r.ok() ? 0 : 3;
    }
    printReport(r);
    for (DamagedObject d : rep.deleted()) {
      print("deleted", d);
    }
    for (DamagedObject d : rep.kept()) {
      print("kept", d);
      out().println("  not deleted: " + Format.printable(d.kept()));
    }
    if (r.ok()) {
      return 0;
    }
    out().printf("deleted %s%s%n", Format.count(rep.deleted().size(), "damaged object"),
        rep.kept().isEmpty() ? "" : ", kept " + rep.kept().size());
    if (!rep.restore().isEmpty()) {
      err().println("ferry verify: to restore what was deleted:");
      for (String line : rep.restore()) {
        err().println("  " + Format.printable(line));
      }
    } else {
      err().println("ferry verify: " + Format.printable(repair(r)));
    }
    return 3;
  }

  private void print(String what, DamagedObject d) {
    out().println(what + " " + d.kind() + " " + d.id().hex() + " (" + Format.printable(d.defect()) + ")");
    for (String use : d.uses()) {
      out().println("  held " + Format.printable(use));
    }
  }

  private static void objects(ArrayNode into, java.util.List<DamagedObject> list) {
    for (DamagedObject d : list) {
      ObjectNode o = into.addObject().put("id", d.id().hex()).put("kind", d.kind()).put("defect", d.defect());
      ArrayNode uses = o.putArray("uses");
      d.uses().forEach(uses::add);
      if (d.kept() != null) {
        o.put("reason", d.kept());
      }
    }
  }

  /**
   * What to do about damage: one line naming the versions to copy back and how, what to do about the store's layout
   * and damaged ref logs (for which no copy of a version helps), and the small-chunk index.
   */
  private static String repair(VerifyReport r) {
    if (r.errors().isEmpty()) {
      return "to repair: ferry index backfill (the small-chunk index only helps pushes find chunks already stored;"
          + " no model is damaged)";
    }
    java.util.List<String> steps = new java.util.ArrayList<>();
    if (r.objectErrors()) {
      steps.add(repairVersions(r));
    }
    if (r.layoutDamage() > 0) {
      steps.add((steps.isEmpty() ? "to repair the store's layout: " : "then ") + "move out or replace what "
          + (r.layoutDamage() == 1 ? "the line" : "each line") + " above about the store's layout names, as it says");
    }
    if (!r.damagedRefLogs().isEmpty()) {
      java.util.List<String> refs = r.damagedRefLogs().stream().map(RefNames::asWritten).toList();
      steps.add((steps.isEmpty() ? "to repair the log of " : "then the log of ")
          + String.join(", ", refs.subList(0, Math.min(refs.size(), 5)))
          + (refs.size() > 5 ? " and " + (refs.size() - 5) + " more" : "") + ": restore it from a backup of the store,"
          + " or move the damaged log out of the store and copy the model back from a store that holds it intact"
          + " (ferry copy " + refs.get(0) + " --store OTHER --to THIS); no version is damaged for it");
    }
    String index = r.indexProblems().isEmpty() ? "" : "; then ferry index backfill repairs the small-chunk index";
    return String.join("; ", steps) + index;
  }

  private static String repairVersions(VerifyReport r) {
    if (r.damagedVersions().isEmpty()) {
      return "to repair: copy the models back from a store that holds them intact (ferry copy MODEL:TAG --store OTHER"
          + " --to THIS)";
    }
    java.util.List<String> v = r.damagedVersions();
    return "to repair " + (v.size() == 1 ? v.get(0) : String.join(", ", v.subList(0, Math.min(v.size(), 5)))
        + (v.size() > 5 ? " and " + (v.size() - 5) + " more" : "")) + ": "
        + (r.damagedObjects() == 0 ? "" : "delete the damaged objects named above from this store (ferry verify"
            + " --delete-damaged), then ") + "push the original files again or copy "
        + (v.size() == 1 ? "it" : "each") + " back from a store that holds it intact: ferry copy " + v.get(0)
        + " --store OTHER --to THIS";
  }
}
