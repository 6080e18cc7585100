package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.codec.CodecPolicy;
import io.ferry.error.InvalidInputException;
import io.ferry.limits.Limits;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.PushResult;
import io.ferry.version.Derivation;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "push", description = "Store a model directory or file as a new version of a model.",
    footer = {"%nPrints the version id on stdout; on stderr, 'up to date' (and no new version is made) if nothing"
        + " changed.",
        "%nExamples:%n  ferry push ./llama-7b llama-7b -m \"base\"",
        "  ferry push ./llama-7b-ft llama-7b:candidate -m \"fine-tune\"",
        "  ferry push ./student student:v1 --derived-from teacher:prod \\",
        "      --derivation distill --metric eval_loss=1.23",
        "  ferry push ./llama-7b llama-7b --exclude '**/*.bin' \\",
        "      --exclude 'checkpoints/**'",
        "  ferry push ./ft-run ft --opaque training_args.bin",
        "%nA .ferryignore at the root of SOURCE lists files not to push, one glob a line as in .gitignore ('#' comments,",
        "a trailing / for directories, ! to take back); it is not pushed itself."})
final class PushCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "SOURCE", description = "Model directory or file.")
  Path source;

  @Parameters(index = "1", paramLabel = "TARGET", description = "model or model:tag")
  String target;

  @Option(names = {"-m", "--message"}, paramLabel = "TEXT", description = "Version message.", defaultValue = "")
  String message;

  @Option(names = "--author", paramLabel = "NAME", description = "Author (default: $FERRY_AUTHOR or the user name).")
  String author;

  @Option(names = "--codec", paramLabel = "CODEC",
      description = "none, zstd, float (byte planes for float tensors) or auto (default: auto).", defaultValue = "auto")
  String codec;

  @Option(names = "--derived-from", paramLabel = "REF", description = "The version this one was derived from.")
  String derivedFrom;

  @Option(names = "--derivation", paramLabel = "METHOD", description = "How it was derived: finetune, distill, ...")
  String derivation;

  @Option(names = "--metric", paramLabel = "NAME=VALUE", description = "A metric of the derivation (repeatable).")
  KeyValues metrics = new KeyValues();

  @Option(names = "--meta", paramLabel = "KEY=VALUE", description = "Version metadata (repeatable).")
  KeyValues meta = new KeyValues();

  @Option(names = "--include", paramLabel = "GLOB", description = {"Push only files whose path in SOURCE matches"
      + " (repeatable): * and ? within a directory, ** across directories, e.g.", "  '**/*.json' '*.safetensors'"})
  java.util.List<String> include = new java.util.ArrayList<>();

  @Option(names = "--exclude", paramLabel = "GLOB", description = "Do not push files whose path matches (repeatable;"
      + " wins over --include).")
  java.util.List<String> exclude = new java.util.ArrayList<>();

  @Option(names = "--opaque", paramLabel = "GLOB", description = {"Store files whose path matches as their bytes,"
      + " without reading them as a format (repeatable): for a pickle Ferry refuses because it names classes beyond"
      + " what torch.load(weights_only=True) reads, e.g.", "  --opaque training_args.bin (whoever loads it runs what"
      + " it names)"})
  java.util.List<String> opaque = new java.util.ArrayList<>();

  /** The {@code --opaque} globs as a filter, or null when there are none. */
  static io.ferry.scan.PathFilter opaqueFilter(java.util.List<String> globs) throws InvalidInputException {
    return globs.isEmpty() ? null : io.ferry.scan.PathFilter.anyOf("--opaque", globs);
  }

  /** {@code ferry push tiny ./tiny}: SOURCE does not exist while TARGET is a directory or file. */
  private void checkOrder() throws InvalidInputException {
    if (java.nio.file.Files.exists(source) || target.isEmpty() || target.contains(":") || target.contains("@")) {
      return;
    }
    Path asPath;
    try {
      asPath = Path.of(target);
    } catch (java.nio.file.InvalidPathException e) {
      return;
    }
    if (java.nio.file.Files.exists(asPath)) {
      throw new InvalidInputException("SOURCE " + source + " does not exist, and TARGET " + target + " is a "
          + (java.nio.file.Files.isDirectory(asPath) ? "directory" : "file") + ": SOURCE comes first: ferry push "
          + target + " " + source);
    }
  }

  @Override
  int run() throws IOException {
    CodecPolicy policy;
    io.ferry.scan.PathFilter files;
    io.ferry.scan.PathFilter opaqueFiles;
    Derivation derivationRecord = null;
    try {
      Limits.checkText("--message", message, Limits.MAX_MESSAGE_CHARS);
      if (author != null && author.isBlank()) {
        // git refuses an empty ident too; an unset shell variable made versions nobody wrote
        throw new InvalidInputException("--author '" + author + "' is empty: name who pushes, or leave --author out"
            + " ($FERRY_AUTHOR, else the user name)");
      }
      if (derivation != null && derivation.isBlank()) {
        throw new InvalidInputException("--derivation is empty (an unset shell variable?): name how the version was"
            + " made (finetune, distill, ...), or leave --derivation out");
      }
      if (derivedFrom != null && derivedFrom.isBlank()) {
        throw new InvalidInputException("--derived-from is empty (an unset shell variable?): name the version this"
            + " one was derived from, or leave --derived-from out");
      }
      Limits.checkText("--author", author, Limits.MAX_AUTHOR_CHARS);
      Limits.checkOneLine("--author", author);
      Limits.checkMetadata("--meta", meta);
      for (Map.Entry<String, KeyValues> o : Map.of("--meta", meta, "--metric", metrics).entrySet()) {
        if (o.getValue().repeatedProblem(o.getKey()) != null) {
          throw new InvalidInputException(o.getValue().repeatedProblem(o.getKey()));
        }
        if (o.getValue().containsKey("")) {
          throw new InvalidInputException(o.getKey() + " takes KEY=VALUE with a key, not '=" + o.getValue().get("")
              + "'");
        }
      }
      policy = CodecPolicy.parse(codec);
      files = io.ferry.scan.PathFilter.of(include, exclude);
      opaqueFiles = opaqueFilter(opaque);
      if (derivation != null || !metrics.isEmpty()) {
        if (derivation == null) {
          throw new InvalidInputException("--metric needs --derivation");
        }
        Map<String, Double> m = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : metrics.entrySet()) {
          double v;
          try {
            v = new FiniteNumberConverter().convert(e.getValue());
          } catch (picocli.CommandLine.TypeConversionException ex) {
            throw new InvalidInputException("--metric " + e.getKey() + "=" + e.getValue() + ": " + ex.getMessage());
          }
          if (!Double.isFinite(v)) {
            throw new InvalidInputException("--metric " + e.getKey() + "=" + e.getValue() + ": not a finite number");
          }
          m.put(e.getKey(), v);
        }
        derivationRecord = new Derivation(derivation, Map.of(), derivedFrom, m);
      }
    } catch (InvalidInputException e) {
      throw usage(e.getMessage(), e);
    }
    PushOptions.Builder b = PushOptions.builder().message(message).author(author).codec(policy)
        .metadata(meta).listener(progress()).files(files)
        .opaque(opaqueFiles);
    if (derivationRecord != null) {
      b.derivation(derivationRecord);
    }
    if (derivedFrom != null) {
      b.derivedFrom(derivedFrom);
    }
    checkOrder();
    try (Repository repo = openRepo()) {
      PushResult r = repo.push(source, target, b.build());
      if (json) {
        printJson(pushJson(object(), repo, target, r));
      } else if (r.upToDate()) {
        // stdout is the version id either way, so that v=$(ferry push ...) gets one
        out().println(r.versionId().hex());
        // chunks stored though the content was the head's: the store lacked them (deleted for damage, or by a gc)
        err().println("up to date: " + target + " is " + r.versionId().hex() + " (no new version" + (r.newChunks() == 0
            ? ")" : "; stored " + Format.count(r.newChunks(), "chunk") + " the store lacked)"));
        // the --meta the version lacks was dropped with nothing said, and the exit code 0 read as if it were recorded
        List<String> unrecorded = meta.entrySet().stream()
            .filter(e -> !e.getValue().equals(r.version().metadata().get(e.getKey())))
            .map(e -> Format.printable(e.getKey())).toList();
        if (!unrecorded.isEmpty()) {
          err().println("note: --meta " + String.join(", ", unrecorded) + " not recorded: the content is the head's, so"
              + " no version was made to hold it (a version's metadata is set when it is made)");
        }
      } else {
        out().println(r.versionId().hex());
        err().printf("pushed %s: %s logical, %s new in the store (%s)%n", target,
            Format.bytes(r.version().stats().logicalBytes()), Format.bytes(r.newStoredBytes()),
            Format.count(r.newChunks(), "new chunk"));
      }
    }
    return 0;
  }

  /**
   * A push as JSON: the version object as log prints it (its {@code newStoredBytes} is what the version's own push
   * added), then {@code ref}, {@code upToDate}, and {@code pushedBytes} / {@code pushedChunkCount}: what this run
   * added (equal to the version's figures for a new version, 0 when it was up to date).
   */
  static ObjectNode pushJson(ObjectNode n, Repository repo, String target, PushResult r) throws IOException {
    java.util.List<String> refs;
    try {
      refs = repo.refsOf(io.ferry.version.RefSpec.parse(target).model()).getOrDefault(r.versionId(),
          java.util.List.of());
    } catch (io.ferry.error.CorruptRefException otherRefDamaged) {
      // the push is done: another ref of the model whose log is damaged (ls and verify name it) leaves the one moved
      refs = java.util.List.of(target);
    }
    JsonOut.version(n, r.versionId(), r.version(), refs);
    return n.put("ref", target).put("upToDate", r.upToDate()).put("pushedBytes", r.newStoredBytes())
        .put("pushedChunkCount", r.newChunks());
  }
}
