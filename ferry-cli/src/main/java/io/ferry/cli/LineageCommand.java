package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.derive.DerivationReport;
import io.ferry.derive.Lineage;
import io.ferry.repo.Repository;
import io.ferry.version.Derivation;
import java.io.IOException;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "lineage", description = "Parents and children of a version across models, with derivations and "
    + "metrics.",
    footer = {"%nChildren are found by walking the history of every ref in the store.",
        "%nExamples:%n  ferry lineage teacher:prod", "  ferry lineage student:v1 --json"})
final class LineageCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      Lineage l = Lineage.of(repo, ref);
      if (json) {
        ObjectNode n = node(object(), l.self());
        ArrayNode ps = n.putArray("parents");
        l.parents().forEach(p -> node(ps.addObject(), p));
        ArrayNode cs = n.putArray("children");
        l.children().forEach(c -> node(cs.addObject(), c));
        printJson(n);
        return 0;
      }
      out().println(line(l.self()));
      out().println("parents:" + (l.parents().isEmpty() ? " none" : ""));
      l.parents().forEach(p -> out().println("  " + line(p)));
      out().println("children:" + (l.children().isEmpty() ? " none" : ""));
      l.children().forEach(c -> out().println("  " + line(c)));
    }
    return 0;
  }

  private static String line(Lineage.Node n) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "%-12s %s", n.relation(), n.id().shortHex(12)));
    if (n.version() == null) {
      return b.append("  (not in this store)").toString();
    }
    b.append("  ").append(n.version().model());
    if (!n.refs().isEmpty()) {
      b.append(" ").append(n.refs());
    }
    Derivation d = n.version().derivation();
    if (d != null) {
      b.append("  ").append(d.method());
      d.parameters().forEach((k, v) -> {
        if (!DerivationReport.RECORD_PARAMETERS.contains(k)) {
          b.append(' ').append(k).append('=').append(v);
        }
      });
      d.metrics().forEach((k, v) -> b.append("  ").append(k).append('=')
          .append(Format.metric(k, v, "%.6g")));
    }
    // a derivation's method, parameters and metric names are whatever the pusher wrote: escape control characters
    return Format.printable(b.toString());
  }

  private static ObjectNode node(ObjectNode n, Lineage.Node node) {
    // the relation is an enum value, camelCase in JSON as every other (derived-from: derivedFrom)
    n.put("relation", JsonOut.camel(node.relation()));
    if (node.version() == null) {
      return n.put("version", node.id().hex()).put("inStore", false);
    }
    return JsonOut.version(n, node.id(), node.version(), node.refs()).put("inStore", true);
  }
}
