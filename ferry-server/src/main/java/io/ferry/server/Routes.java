package io.ferry.server;

import io.ferry.repo.Repository;
import java.util.List;

/** The parts of the API beside the store protocol, in the order they are tried. */
final class Routes {
  private Routes() {}

  static List<FerryHandler.Route> of(Repository repo, ServerOptions options) {
    return List.of();
  }
}
