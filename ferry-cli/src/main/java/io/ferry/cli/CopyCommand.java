package io.ferry.cli;

import io.ferry.Ferry;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.CopyResult;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "copy", description = "Copy a version (and the history the target lacks) to another store.",
    footer = {"%nSends only the chunks the target lacks, then the version, then moves the target's head and tag.",
        "%nExamples:%n  ferry copy llama-7b:prod --to hdfs://namenode:8020/ferry",
        "  ferry copy llama-7b:prod --store hdfs://namenode:8020/ferry \\",
        "      --to s3://models/ferry --verify"})
final class CopyCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Option(names = "--to", required = true, paramLabel = "STORE", description = "Target store URI or path (created if missing).")
  String to;

  @Option(names = "--verify", description = "Check the SHA-256 of every chunk sent, and then the whole version as the"
      + " target holds it (what it already had too) before any ref moves (frame checksums are always checked).")
  boolean verify;

  @Override
  int run() throws IOException {
    try (Repository src = openRepo()) {
      // a ref that names nothing fails here, before a missing target store is created for it
      src.resolve(ref);
      try (Repository dst = Ferry.open(to, StoreOptions.createIfMissing().withSettings(settings()),
          repositoryOptions())) {
        copy(src, dst);
      }
    }
    return 0;
  }

  private void copy(Repository src, Repository dst) throws IOException {
    CopyResult r = src.copyTo(ref, dst, verify, progress());
    if (json) {
      printJson(object().put("version", r.version().hex()).put("sentVersionCount", r.versionsSent())
          .put("sentObjectCount", r.objectsSent()).put("sentBytes", r.bytesSent())
          .putPOJO("movedRefs", r.refsMoved().stream().map(JsonOut::userRef).toList()));
    } else {
      out().printf("copied %s (%s) to %s: %d versions, %d objects, %s sent; moved %s%n", ref,
          r.version().shortHex(12), dst.uri(), r.versionsSent(), r.objectsSent(), Format.bytes(r.bytesSent()),
          r.refsMoved().isEmpty() ? "no refs" : String.join(", ", r.refsMoved()));
    }
  }
}
