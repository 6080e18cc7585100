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
  /** What the kernel says of a write that failed for want of room (the JDK's message is its strerror alone). */
  private static final java.util.Set<String> WRITE_FAILURES = java.util.Set.of("No space left on device",
      "Disk quota exceeded", "File too large");

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
      if (!(e instanceof io.ferry.error.FerryException) && "Bad file descriptor".equals(e.getMessage())) {
        // ferry cat REF//f >&- : the error was the kernel's word alone, naming neither stdout nor the cause
        throw new IOException("stdout is not open for writing (closed, e.g. by >&-): redirect it to a file or a pipe",
            e);
      }
      if (!(e instanceof io.ferry.error.FerryException) && WRITE_FAILURES.contains(e.getMessage())) {
        // only a write fails so (reads of the store do not fill a disk): name where the bytes were going
        throw new IOException("the file could not all be written to stdout: " + e.getMessage()
            + ("No space left on device".equals(e.getMessage()) ? " (is the disk full?)" : ""), e);
      }
      throw e;
    }
    return 0;
  }
}
