package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import io.ferry.store.RefLogEntry;
import io.ferry.version.RefSpec;
import java.io.IOException;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "reflog", description = "Every move of a ref, newest first: when, who, from what to what, and why "
    + "(deleted refs too).",
    footer = {"%nExamples:%n  ferry reflog llama-7b:prod", "  ferry reflog llama-7b -n 10 --json   # the head"})
final class ReflogCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF", description = "model (its head) or model:tag") String ref;

  @Option(names = {"-n", "--max-count"}, paramLabel = "N", description = "Show at most N moves (default: all).")
  int limit = Integer.MAX_VALUE;

  @Override
  int run() throws IOException {
    if (limit < 0) {
      throw usage("--max-count must be 0 or more, not '" + given("--max-count") + "'");
    }
    RefSpec s = RefSpec.parse(ref);
    if (s.selectsVersion() || s.path() != null) {
      throw new InvalidInputException("reflog takes a model or model:tag, not '" + ref + "'");
    }
    try (Repository repo = openRepo()) {
      List<RefLogEntry> log = repo.refLog(s.refName());
      if (log.isEmpty()) {
        throw new io.ferry.error.NotFoundException("no ref '" + ref + "' in " + repo.uri() + " (and no log of one)");
      }
      ArrayNode arr = json ? json().createArrayNode() : null;
      int shown = 0;
      for (int i = log.size() - 1; i >= 0 && shown < limit; i--, shown++) {
        RefLogEntry e = log.get(i);
        if (json) {
          arr.addObject().put("ref", s.refText()).put("time", e.when().toString()).put("who", e.who())
              .put("old", e.oldId() == null ? null : e.oldId().hex())
              .put("new", e.newId() == null ? null : e.newId().hex()).put("why", e.why());
        } else {
          out().printf("%s  %s %-12s -> %-12s  %s%n", Format.time(e.when()),
              Format.padded(Format.printable(e.who()), 16),
              e.oldId() == null ? "(none)" : e.oldId().shortHex(12),
              e.newId() == null ? "(deleted)" : e.newId().shortHex(12), Format.printable(e.why()));
        }
      }
      if (json) {
        printJson(arr);
      }
    }
    return 0;
  }
}
