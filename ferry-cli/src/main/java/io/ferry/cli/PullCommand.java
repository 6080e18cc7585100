package io.ferry.cli;

import io.ferry.export.Export;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "pull",
    footer = {"%nExamples:%n  ferry pull llama-7b:prod ./out", "  ferry pull llama-7b@3f2a ./out --verify",
        "  ferry pull llama-7b:prod//config.json ./out",
        "  ferry pull llama-7b:v2 ./out --force   # ./out held v1: now exactly v2",
        "  ferry pull run-42:latest ./out --as safetensors",
        "  ferry pull llama-7b:prod ./out --include '*.json' --include 'tokenizer*'"},
    description = {"Write a version's files into a directory, byte-identical.", "",
        "Files already in DIR and identical to the version's are kept (a repeated pull only checks them);"
        + " other files make the pull stop unless --force or --merge. A pull that was killed resumes: run it again.",
        "",
        "With --include or --exclude, the pull is a pull of the files they select alone: only those are written (and"
        + " compared), and no other file of DIR is looked at or removed, even with --force."})
final class PullCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Parameters(index = "1", paramLabel = "DIR") Path dest;

  @Option(names = "--verify", description = "Re-hash every byte with SHA-256 (frame checksums are always checked).")
  boolean verify;

  @Option(names = "--fsync", description = "Force every file to disk before it gets its final name.")
  boolean fsync;

  @Option(names = "--force", description = "Make DIR exactly the version: replace files that differ and remove files "
      + "the version does not have.")
  boolean force;

  @Option(names = "--merge", description = "Replace files that differ from the version's and keep the others.")
  boolean merge;

  @Option(names = "--include", paramLabel = "GLOB", description = "Pull only files whose path in the version matches"
      + " (repeatable): * and ? within a directory, ** across directories, e.g. '*.json', '**/*.safetensors'.")
  java.util.List<String> include = new java.util.ArrayList<>();

  @Option(names = "--exclude", paramLabel = "GLOB", description = "Do not pull files whose path matches (repeatable;"
      + " wins over --include).")
  java.util.List<String> exclude = new java.util.ArrayList<>();

  @Option(names = "--as", paramLabel = "FORMAT", description = "Convert while pulling. safetensors: PyTorch"
      + " checkpoints as safetensors (tensors under their dotted names, views made contiguous, non-tensor values in"
      + " __metadata__). torch: safetensors files as PyTorch zip checkpoints (model*.safetensors as pytorch_model*.bin,"
      + " the index renamed to match). Other files as they are.")
  String as;

  @Override
  int run() throws IOException {
    if (force && merge) {
      throw usage("--force and --merge exclude each other");
    }
    PullOptions.Existing existing = force ? PullOptions.Existing.FORCE
        : merge ? PullOptions.Existing.MERGE : PullOptions.Existing.REFUSE;
    if (java.nio.file.Files.exists(dest) && !java.nio.file.Files.isDirectory(dest)) {
      throw new io.ferry.error.InvalidInputException(dest + ": exists and is not a directory; pull writes into a directory");
    }
    io.ferry.scan.PathFilter files;
    Export.As target;
    try {
      files = io.ferry.scan.PathFilter.of(include, exclude);
      target = as == null ? null : Export.As.parse(as);
    } catch (io.ferry.error.InvalidInputException e) {
      throw usage(e.getMessage(), e);
    }
    if (as != null && !files.takesAll()) {
      throw usage("--as converts a whole version; it does not take --include or --exclude");
    }
    try (Repository repo = openRepo()) {
      if (as != null) {
        repo.checkDestination(dest);
        repo.read(ref, reader -> {
          Export.Result r = Export.write(reader.verifying(verify), dest, fsync, target, existing);
          if (json) {
            com.fasterxml.jackson.databind.node.ObjectNode n = object();
            JsonOut.version(n, reader.versionId(), reader.version(), repo.refsOf(io.ferry.version.RefSpec.parse(ref).model())
                .getOrDefault(reader.versionId(), java.util.List.of()));
            printJson(n.put("ref", ref).put("dir", dest.toString()).put("verified", verify).put("as", target.toString())
                .put("convertedTensorCount", r.tensors()).put("writtenBytes", r.bytes()));
          } else {
            out().println("pulled " + ref + " (" + reader.versionId().shortHex(12) + ") as " + target + " into " + dest
                + ": " + Format.count(r.files().size(), "file") + ", " + Format.count(r.tensors(), "tensor")
                + " converted, "
                + Format.bytes(r.bytes())
                + (verify ? ", verified" : ""));
          }
        });
        return 0;
      }
      VersionRef v = repo.pull(ref, dest, new PullOptions(verify, fsync, progress(), existing, files));
      if (json) {
        com.fasterxml.jackson.databind.node.ObjectNode n = object();
        JsonOut.version(n, v.id(), v.version(), repo.refsOf(io.ferry.version.RefSpec.parse(ref).model()).getOrDefault(v.id(), java.util.List.of()));
        printJson(n.put("ref", ref).put("dir", dest.toString()).put("verified", verify).putNull("as"));
      } else {
        String what = Format.bytes(v.version().stats().logicalBytes());
        String one = io.ferry.version.RefSpec.parse(ref).path();
        if (one != null) {
          // ref//path: the one file, of the whole
          long size = repo.snapshot(v).file(one).map(io.ferry.version.FileEntry::size).orElse(0L);
          what = "1 file, " + Format.bytes(size) + " of " + what;
        } else if (!files.takesAll()) {
          // a selective pull: what it wrote, of the whole
          long bytes = 0;
          int n = 0;
          java.util.List<io.ferry.version.FileEntry> all = repo.snapshot(v).files();
          for (io.ferry.version.FileEntry f : all) {
            if (files.test(f.path())) {
              bytes += f.size();
              n++;
            }
          }
          what = n + " of " + Format.count(all.size(), "file") + ", " + Format.bytes(bytes) + " of " + what;
        }
        out().println("pulled " + ref + " (" + v.id().shortHex(12) + ", " + what + ") into " + dest
            + (verify ? ", verified" : ""));
      }
    }
    return 0;
  }
}
