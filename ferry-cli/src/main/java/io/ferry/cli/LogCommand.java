package io.ferry.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.SequenceWriter;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.version.Version;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "log", description = {"History of a model or ref, newest first: id, time, author, message, sizes.",
    "A version the model's head or tags point at is marked after its id, e.g. (HEAD, prod); in --json, its \"refs\"",
    "lists them as written on the command line (llama-7b, llama-7b:prod)."},
    footer = {"%nExamples:%n  ferry log llama-7b", "  ferry log llama-7b:prod -n 5 --json"})
final class LogCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Option(names = {"-n", "--max-count"}, paramLabel = "N", description = "Show at most N versions (default: all).")
  int limit = Integer.MAX_VALUE;

  @Override
  int run() throws IOException {
    if (limit < 0) {
      throw usage("--max-count must be 0 or more, not '" + given("--max-count") + "'");
    }
    try (Repository repo = openRepo()) {
      List<VersionRef> log = repo.log(ref, limit);
      Map<ChunkId, List<String>> refs = log.isEmpty() ? Map.of() : repo.refsOf(
          io.ferry.version.RefSpec.parse(ref).model());
      if (json) {
        // one version at a time: the whole log as one tree and then one string took several times its size
        try (SequenceWriter w = json().writer().without(JsonGenerator.Feature.AUTO_CLOSE_TARGET)
            .writeValuesAsArray(out())) {
          for (VersionRef v : log) {
            w.write(JsonOut.version(json().createObjectNode(), v.id(), v.version(),
                refs.getOrDefault(v.id(), List.of())));
          }
        }
        out().println();
        return 0;
      }
      for (VersionRef r : log) {
        Version v = r.version();
        out().printf("%s%s  %s  %s %10s logical %10s new  %s%s%n", r.id().shortHex(12), decoration(refs.get(r.id()),
            io.ferry.version.RefSpec.parse(ref).model()),
            Format.time(v.time()),
            Format.padded(Format.printable(v.author()), 16), Format.bytes(v.stats().logicalBytes()),
            Format.bytes(v.stats().newStoredBytes()), Format.printable(v.message()),
            v.derivation() == null ? "" : "  [" + Format.printable(v.derivation().method()) + "]");
      }
      if (!log.isEmpty() && log.size() < limit) {
        Version last = log.get(log.size() - 1).version();
        if (last.derivation() != null) {
          out().printf("(derived from %s: see ferry lineage)%n", Format.printable(last.derivation().source()));
        } else if (!last.parents().isEmpty()) {
          out().printf("(continues in another model from %s)%n", last.parents().get(0).shortHex(12));
        }
      }
    }
    return 0;
  }

  /** {@code " (HEAD, prod, candidate)"} for the refs of {@code model} at a version; empty for none. */
  static String decoration(List<String> refs, String model) {
    if (refs == null || refs.isEmpty()) {
      return "";
    }
    StringBuilder b = new StringBuilder(" (");
    for (String r : refs) {
      b.append(b.length() == 2 ? "" : ", ").append(r.equals(model) ? "HEAD" : r.substring(model.length() + 1));
    }
    return b.append(')').toString();
  }
}
