package io.ferry.cli;

import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.read.ModelReader;
import io.ferry.repo.Repository;
import io.ferry.repo.Suggestions;
import io.ferry.version.RefSpec;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.List;
import java.util.TreeSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "cat", description = "Write one file of a version, or one tensor (or rows of it), to stdout.",
    footer = {"%nExamples:%n  ferry cat llama-7b:prod//config.json",
        "  ferry cat llama-7b:prod --tensor lm_head.weight > lm_head.bin",
        "  ferry cat llama-7b:prod --tensor model.embed_tokens.weight --rows 100:200",
        "  ferry cat sd:prod//unet/model.safetensors --tensor conv_in.weight"})
final class CatCommand extends StoreCommand {

  @Parameters(index = "0", paramLabel = "REF//PATH", description = "A file of a version; with --tensor, the version"
      + " (REF), or REF//PATH to name the file that holds the tensor.")
  String ref;

  @Option(names = "--tensor", paramLabel = "NAME", description = "Write this tensor's bytes instead of a file: its"
      + " elements in row-major order as stored (little-endian; packed for sub-byte and block-quantized types), checked"
      + " like every read. ferry show REF lists the tensors.")
  String tensor;

  @Option(names = "--rows", paramLabel = "RANGE", description = "With --tensor: FROM:TO, only rows [FROM, TO) of its"
      + " first dimension; FROM or TO may be left out (100: is row 100 to the end).")
  String rows;

  @Override
  int run() throws IOException {
    if (json) {
      throw usage("cat writes the file's bytes to stdout and has"
          + " no --json form; for the file's size, SHA-256 and tensors as JSON: ferry show REF --json");
    }
    if (rows != null && tensor == null) {
      throw usage("--rows " + rows + " selects rows of a tensor: name it with --tensor NAME");
    }
    long[] range = rows == null ? null : parseRows(rows);
    out().flush();
    try (Repository repo = openRepo()) {
      FileOutputStream stdout = new FileOutputStream(FileDescriptor.out);
      FileChannel ch = stdout.getChannel();
      if (tensor == null) {
        repo.cat(ref, ch);
      } else {
        RefSpec spec = RefSpec.parse(ref);
        repo.read(spec.refText(), r -> {
          ModelReader.Located t = locate(r, spec);
          if (range == null) {
            r.copyTensor(t, ch);
          } else {
            if (range[1] < 0 && range[0] > t.info().rows() && t.info().rowBytes() >= 0) {
              // FROM: reads to the end; the reader would call [FROM, end) inverted, an end the user never gave
              throw new InvalidInputException("row " + range[0] + " (--rows " + rows + ") is past the end of tensor '"
                  + t.info().name() + "' of " + t.file().path() + ", which has " + t.info().rows() + " rows");
            }
            r.copyRows(t, range[0], range[1] < 0 ? t.info().rows() : range[1], ch);
          }
        });
      }
    } catch (IOException e) {
      if ("Broken pipe".equals(e.getMessage())) {
        return 0;
      }
      if (!(e instanceof io.ferry.error.FerryException) && "Bad file descriptor".equals(e.getMessage())) {
        // ferry cat REF//f >&- : the error was the kernel's word alone, naming neither stdout nor the cause
        throw new IOException("stdout is not open for writing (closed, e.g. by >&-): redirect it to a file or a pipe",
            e);
      }
      // what the kernel says of a write that failed for want of room (the JDK's message is its strerror alone)
      if (!(e instanceof io.ferry.error.FerryException) && (io.ferry.error.FileErrors.outOfSpace(e.getMessage())
          || "File too large".equals(e.getMessage()))) {
        // only a write fails so (reads of the store do not fill a disk): name where the bytes were going
        throw new IOException("the file could not all be written to stdout: " + e.getMessage()
            + ("No space left on device".equals(e.getMessage()) ? " (is the disk full?)" : ""), e);
      }
      throw e;
    }
    return 0;
  }

  /** The tensor --tensor names: in the file REF//PATH names, else the one file of the version that holds it. */
  private ModelReader.Located locate(ModelReader r, RefSpec spec) throws IOException {
    if (spec.path() != null) {
      r.file(spec.path());
      if (r.tensors().stream().noneMatch(l -> l.file().path().equals(spec.path()))) {
        throw new NotFoundException(spec.path() + " of " + spec.refText() + " holds no tensors (a file Ferry reads as"
            + " bytes only): ferry show " + spec.refText() + " lists the files that do"
            + r.unlistedNote(spec.path(), tensor));
      }
      try {
        return r.tensor(spec.path(), tensor);
      } catch (NotFoundException e) {
        throw new NotFoundException(spec.path() + " of " + spec.refText() + " has no tensor '" + tensor + "'"
            + r.unlistedNote(spec.path(), tensor) + Suggestions.didYouMean(tensor, names(r, spec.path())));
      }
    }
    List<ModelReader.Located> all = r.tensors().stream().filter(l -> l.info().name().equals(tensor)).toList();
    if (all.isEmpty()) {
      throw new NotFoundException(spec.refText() + " (" + r.versionId().shortHex(12) + ") has no tensor '" + tensor
          + "' (ferry show " + spec.refText() + " lists its tensors)" + r.unlistedNote(null, tensor)
          + Suggestions.didYouMean(tensor, names(r, null)));
    }
    if (all.size() > 1) {
      throw new InvalidInputException(spec.refText() + " has a tensor '" + tensor + "' in each of " + all.size()
          + " files (" + String.join(", ", all.stream().map(l -> l.file().path()).toList()) + "): name the file, as in "
          + spec.refText() + "//" + all.get(0).file().path() + " --tensor " + tensor);
    }
    return all.get(0);
  }

  private static TreeSet<String> names(ModelReader r, String path) {
    TreeSet<String> names = new TreeSet<>();
    for (ModelReader.Located l : r.tensors()) {
      if (path == null || l.file().path().equals(path)) {
        names.add(l.info().name());
      }
    }
    return names;
  }

  /** {@code FROM:TO}, {@code FROM:} or {@code :TO} as {@code {from, to}}, with -1 for an open end. */
  private long[] parseRows(String text) {
    int colon = text.indexOf(':');
    if (colon < 0 || text.indexOf(':', colon + 1) >= 0) {
      throw usage("--rows " + text + ": expected FROM:TO (rows [FROM, TO) of the tensor's first dimension; either may"
          + " be left out, as in 100: or :8)");
    }
    long from = colon == 0 ? 0 : rowNumber(text, text.substring(0, colon));
    long to = colon == text.length() - 1 ? -1 : rowNumber(text, text.substring(colon + 1));
    if (to >= 0 && to < from) {
      throw usage("--rows " + text + ": the range is inverted (TO " + to + " is before FROM " + from + ")");
    }
    return new long[] {from, to};
  }

  private long rowNumber(String text, String number) {
    if (number.isEmpty() || number.length() > 18 || !number.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw usage("--rows " + text + ": '" + number + "' is not a row number (0 or more, in decimal digits)");
    }
    return Long.parseLong(number);
  }
}
