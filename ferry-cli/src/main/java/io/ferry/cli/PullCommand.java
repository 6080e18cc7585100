package io.ferry.cli;

import io.ferry.transfer.PullOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "pull", description = "Write a version's files into a directory, byte-identical.",
    footer = {"%nExamples:%n  ferry pull llama-7b:prod ./out", "  ferry pull llama-7b@3f2a ./out --verify",
        "  ferry pull llama-7b:prod//config.json ./out"})
final class PullCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Parameters(index = "1", paramLabel = "DIR") Path dest;

  @Option(names = "--verify", description = "Re-hash every byte with SHA-256 (frame checksums are always checked).")
  boolean verify;

  @Option(names = "--fsync", description = "Force every file to disk before it gets its final name.")
  boolean fsync;

  @Override
  int run() throws IOException {
    if (java.nio.file.Files.exists(dest) && !java.nio.file.Files.isDirectory(dest)) {
      throw new io.ferry.error.InvalidInputException(dest + ": exists and is not a directory; pull writes into a directory");
    }
    try (Repository repo = openRepo()) {
      VersionRef v = repo.pull(ref, dest, new PullOptions(verify, fsync, progress()));
      if (json) {
        printJson(object().put("version", v.id().hex()).put("dir", dest.toString()).put("verified", verify)
            .put("bytes", v.version().stats().logicalBytes()));
      } else {
        out().println("pulled " + ref + " (" + v.id().shortHex(12) + ", "
            + Format.bytes(v.version().stats().logicalBytes()) + ") into " + dest + (verify ? ", verified" : ""));
      }
    }
    return 0;
  }
}
