package io.ferry.cli;

import io.ferry.repo.Repository;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import picocli.CommandLine.Command;

@Command(name = "init", description = "Create an empty store (nothing happens if one exists).",
    footer = {"%nExample:%n  ferry init --store ./models-store"})
final class InitCommand extends StoreCommand {
  @Override
  int run() throws IOException {
    try (Repository repo = openRepo(StoreOptions.createIfMissing())) {
      if (json) {
        printJson(object().put("store", repo.uri()));
      } else {
        out().println("Ferry store ready at " + repo.uri());
      }
    }
    return 0;
  }
}
