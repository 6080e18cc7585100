package io.ferry.server;

import io.ferry.repo.Repository;
import io.ferry.server.hf.HfApi;
import io.ferry.server.http.MemoryBudget;
import io.ferry.server.http.Route;
import java.util.List;

/** The parts of the API beside the store protocol, in the order they are tried. */
final class Routes {
  private Routes() {}

  static List<Route> of(Repository repo, MemoryBudget budget, io.ferry.server.web.WeightDiff diffs,
      ServerOptions options) {
    return List.of(new ModelApi(repo), new DiffApi(diffs), new HfApi(repo, budget, options.publicUrl()));
  }
}
