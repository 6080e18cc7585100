package io.ferry.cli;

import io.ferry.dedup.SmallChunkIndex.BackfillReport;
import io.ferry.repo.Repository;
import java.io.IOException;
import picocli.CommandLine.Command;

/** {@code ferry index ...}: the store-wide small-chunk index (docs/small-chunk-index.md). */
@Command(name = "index", description = "Maintain the store-wide index of small chunks (see 'ferry index backfill').",
    subcommands = {IndexCommand.Backfill.class})
final class IndexCommand extends GroupCommand {

  @Command(name = "backfill", description = "Add the small chunks of every version's packs that the index does not"
      + " have yet, so that pushes find them: for stores written before Ferry kept the index. Adds only what is"
      + " missing (a second run adds nothing); safe while others push or gc.",
      footer = {"%nExamples:%n  ferry index backfill", "  ferry index backfill --store s3://models/ferry --json"})
  static final class Backfill extends StoreCommand {
    @Override
    int run() throws IOException {
      try (Repository repo = openRepo()) {
        BackfillReport r = repo.backfillSmallChunkIndex();
        if (json) {
          printJson(object().put("packCount", r.packs()).put("alreadyIndexedPackCount", r.alreadyIndexed())
              .put("readPackCount", r.read()).put("unreadablePackCount", r.unreadable())
              .put("addedChunkCount", r.chunksAdded()).put("writtenDeltaCount", r.deltas())
              .put("repairedCount", r.repaired()));
        } else {
          out().printf("index backfill: read %d of %s (%d already indexed, %d gone or damaged); added %s in %s%n",
              r.read(), Format.count(r.packs(), "pack"), r.alreadyIndexed(), r.unreadable(),
              Format.count(r.chunksAdded(), "chunk"), Format.count(r.deltas(), "delta record"));
          if (r.repaired() > 0) {
            out().printf("index backfill: replaced %d damaged part%s of the index (see 'ferry verify')%n", r.repaired(),
                r.repaired() == 1 ? "" : "s");
          }
          if (r.unreadable() > 0) {
            out().println("some packs of live versions are gone or damaged: run 'ferry verify' to see which versions"
                + " they hurt");
          }
        }
      }
      return 0;
    }
  }
}
