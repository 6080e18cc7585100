package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VerifyReport;
import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "verify", description = "Check every chunk (checksums and SHA-256) of one version or the whole store.",
    footer = {"%nExit code 3 if anything is corrupt or missing.", "%nExamples:%n  ferry verify", "  ferry verify llama-7b:prod"})
final class VerifyCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF", arity = "0..1") String ref;

  @Override
  int run() throws IOException {
    try (Repository repo = openRepo()) {
      VerifyReport r = repo.verify(ref, progress());
      if (json) {
        ObjectNode n = object().put("ok", r.ok()).put("versions", r.versions()).put("chunks", r.chunks())
            .put("bytes", r.bytes());
        ArrayNode errs = n.putArray("errors");
        r.errors().forEach(errs::add);
        printJson(n);
      } else {
        for (String e : r.errors()) {
          err().println("ferry verify: " + e);
        }
        out().printf("%s: %d versions, %d chunks, %s checked%s%n", r.ok() ? "ok" : "CORRUPT", r.versions(),
            r.chunks(), Format.bytes(r.bytes()), r.ok() ? "" : ", " + r.errors().size() + " errors");
      }
      return r.ok() ? 0 : 3;
    }
  }
}
