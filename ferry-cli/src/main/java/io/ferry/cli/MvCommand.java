package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.TagResult;
import java.io.IOException;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "mv", description = {"Rename a model: its head and tags move to NEW; their logs record the move"
    + " (ferry reflog NEW shows 'mv OLD NEW'). Versions keep the name they were pushed under (ferry show says it).",
    "Refused when NEW exists. Interrupted, it leaves OLD whole (if NEW's head was not made yet) or NEW whole (then"
        + " finish with ferry rm OLD --force)."},
    footer = {"%nExample:%n  ferry mv llama-7b-tmp llama-7b"})
final class MvCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "OLD") String from;

  @Parameters(index = "1", paramLabel = "NEW") String to;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      List<TagResult> moves = repo.renameModel(from, to);
      if (json) {
        ObjectNode n = object().put("from", from).put("to", to);
        var refs = n.putArray("moved");
        for (TagResult r : moves) {
          if (r.oldId() == null) {
            refs.addObject().put("ref", JsonOut.userRef(r.ref())).put("version", r.newId().hex());
          }
        }
        printJson(n);
      } else {
        for (TagResult r : moves) {
          if (r.oldId() == null) {
            out().println("moved " + Format.printable(from + JsonOut.userRef(r.ref()).substring(to.length())) + " -> "
                + Format.printable(JsonOut.userRef(r.ref())) + " (" + r.newId().shortHex(12) + ")");
          }
        }
      }
    }
    return 0;
  }
}
