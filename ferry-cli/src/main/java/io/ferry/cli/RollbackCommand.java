package io.ferry.cli;

import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.TagResult;
import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "rollback", description = "Move a tag (or, given a model alone, its head) back to its previous "
    + "target, from its ref log.",
    footer = {"%nExamples:%n  ferry rollback llama-7b:prod",
        "  ferry rollback llama-7b:prod --expect 9c1e...(full id of the bad version)",
        "  ferry rollback llama-7b --to 3f2a"})
final class RollbackCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "MODEL:TAG|MODEL") String ref;

  @Option(names = "--expect", paramLabel = "ID", description = "Full version id the tag must point at now, the one to"
      + " roll back from; exit 4 if it points elsewhere (someone rolled it back or moved it already).")
  String expect;

  @Option(names = "--to", paramLabel = "ID", description = "Move it to this version of the model (its id or a prefix)"
      + " instead of its previous target, as a rollback its log records: forward again after a rollback.")
  String to;

  @Override
  int run() throws IOException {
    ChunkId expected = null;
    if (expect != null) {
      if (!ChunkId.isValid(expect)) {
        throw usage("--expect '" + expect + "' is not a full 64-digit version id");
      }
      expected = ChunkId.parse(expect.toLowerCase(java.util.Locale.ROOT));
    }
    if (to != null && !io.ferry.version.RefSpec.isIdPrefix(to)) {
      throw usage("--to '" + to + "' is not a version id or a prefix of one (4 to 64 hex digits)");
    }
    try (Repository repo = openRepo()) {
      TagResult r = to == null ? repo.rollback(ref, expected) : repo.rollbackTo(ref, to, expected);
      if (json) {
        printJson(object().put("ref", JsonOut.userRef(r.ref())).put("old", r.oldId().hex()).put("new", r.newId().hex())
            .put("result", JsonOut.value(r.result())));
      } else {
        out().println(ref + " -> " + r.newId().hex()
            + (r.oldId().equals(r.newId()) ? " (unchanged)" : " (was " + r.oldId().shortHex(12) + ")"));
      }
    }
    return 0;
  }
}
