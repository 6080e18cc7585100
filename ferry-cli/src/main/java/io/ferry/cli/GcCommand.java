package io.ferry.cli;

import io.ferry.error.NotAllowedException;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.GcReport;
import java.io.IOException;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "gc", description = "Remove objects that no ref, no recent ref-log entry and no running push needs.",
    footer = {"%nExamples:%n  ferry gc --dry-run", "  ferry gc --grace 7d",
        "  ferry gc --grace 0   # no grace: only when nothing else writes"})
final class GcCommand extends StoreCommand {
  @Option(names = "--dry-run", description = "Report what would be removed; remove nothing.")
  boolean dryRun;

  @Option(names = "--grace", paramLabel = "DURATION", description = "Keep objects and ref-log entries younger than this: 90s, 30m, 1h, 7d or ISO-8601 (PT1H);"
      + " default 1h.")
  Duration grace = Duration.ofHours(1);

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      GcReport r;
      try {
        r = repo.gc(grace, dryRun);
      } catch (NotAllowedException e) {
        // the first request refused names its own endpoint's scope (records need write access), which no token short
        // of admin gets past: say what gc as a whole needs
        throw new NotAllowedException("gc lists and removes objects across the whole store " + repo.uri()
            + ", which needs a token with the admin scope; " + e.getMessage());
      }
      if (json) {
        printJson(object().put("dryRun", r.dryRun()).put("liveObjectCount", r.liveObjects())
            .put("deadObjectCount", r.deadObjects())
            .put("deadBytes", r.deadBytes()).put("keptYoungCount", r.keptYoung())
            .put("keptForPushesCount", r.keptForPushes()).put("leftoversRemovedCount", r.leftoversRemoved()));
      } else {
        out().printf("%s %s (%s); kept %d live, %d younger than %s%s%s%n", dryRun ? "would remove" : "removed",
            Format.count(r.deadObjects(), "object"), Format.bytes(r.deadBytes()), r.liveObjects(), r.keptYoung(),
            Format.duration(grace), r.keptForPushes() == 0 ? ""
                : ", " + r.keptForPushes() + " for running pushes", r.leftoversRemoved() == 0 ? ""
                : "; removed " + Format.count(r.leftoversRemoved(), "leftover") + " of interrupted writes");
      }
    }
    return 0;
  }
}
