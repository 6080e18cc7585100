package io.ferry.cli;

import io.ferry.repo.Repository;
import io.ferry.repo.Results.TagResult;
import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "rollback", description = "Move a tag back to its previous target, from its ref log.",
    footer = {"%nExample:%n  ferry rollback llama-7b:prod"})
final class RollbackCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "MODEL:TAG") String ref;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      TagResult r = repo.rollback(ref);
      if (json) {
        printJson(object().put("ref", JsonOut.userRef(r.ref())).put("old", r.oldId().hex()).put("new", r.newId().hex()));
      } else {
        out().println(ref + " -> " + r.newId().hex() + " (was " + r.oldId().shortHex(12) + ")");
      }
    }
    return 0;
  }
}
