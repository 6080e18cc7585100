package io.ferry.cli;

import io.ferry.repo.Repository;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "cat", description = "Write one file of a version to stdout.",
    footer = {"%nExample:%n  ferry cat llama-7b:prod//config.json"})
final class CatCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF//PATH") String ref;

  @Override
  int run() throws IOException {
    if (json) {
      throw usage("cat writes the file's bytes to stdout and has"
          + " no --json form; for the file's size, SHA-256 and tensors as JSON: ferry show REF --json");
    }
    out().flush();
    try (Repository repo = openRepo()) {
      FileOutputStream stdout = new FileOutputStream(FileDescriptor.out);
      FileChannel ch = stdout.getChannel();
      repo.cat(ref, ch);
    } catch (IOException e) {
      if ("Broken pipe".equals(e.getMessage())) {
        return 0;
      }
      throw e;
    }
    return 0;
  }
}
