package io.ferry.cli;

import io.ferry.repo.Repository;
import io.ferry.repo.Results.StoreStats;
import java.io.IOException;
import picocli.CommandLine.Command;

@Command(name = "stats", description = "Logical and stored bytes, dedup and compression ratios, chunks and packs.",
    footer = {"%nExample:%n  ferry stats --json"})
final class StatsCommand extends StoreCommand {
  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      StoreStats s = repo.stats();
      if (json) {
        printJson(object().put("modelCount", s.models()).put("versionCount", s.versions())
            .put("logicalBytes", s.logicalBytes()).put("uniqueBytes", s.uniqueBytes())
            .put("storedBytes", s.storedBytes()).put("dedupRatio", s.dedupRatio())
            .put("compressionRatio", s.compressionRatio()).put("chunkCount", s.chunks()).put("packCount", s.packs())
            .put("objectCount", s.objects()));
      } else {
        out().printf("models        %d%nversions      %d%nlogical       %s%nunique        %s%nstored        %s%n"
            + "dedup         %.2fx (logical / unique)%ncompression   %.3f (stored / unique)%nchunks        %d%n"
            + "packs         %d%nobjects       %d%n", s.models(), s.versions(), Format.bytes(s.logicalBytes()),
            Format.bytes(s.uniqueBytes()), Format.bytes(s.storedBytes()), s.dedupRatio(), s.compressionRatio(),
            s.chunks(), s.packs(), s.objects());
      }
    }
    return 0;
  }
}
