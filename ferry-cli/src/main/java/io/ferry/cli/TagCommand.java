package io.ferry.cli;

import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.TagResult;
import java.io.IOException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "tag", description = "Point a tag at a version (or delete one with -d); with --expect, only if it still "
    + "points where expected.",
    footer = {"%nExamples:%n  ferry tag llama-7b@3f2a prod", "  ferry tag llama-7b:candidate prod --expect 9c1e...(full id)",
        "  ferry tag -d llama-7b:candidate"})
final class TagCommand extends StoreCommand {
  @Parameters(index = "0", paramLabel = "REF") String ref;

  @Parameters(index = "1", paramLabel = "TAG", arity = "0..1") String tag;

  @Option(names = {"-d", "--delete"}, description = "Delete the tag REF (model:tag); its log is kept.")
  boolean delete;

  @Option(names = "--expect", paramLabel = "ID", description = "Full version id the tag must point at now (compare-and-swap); exit 4 if not.")
  String expect;

  @Override
  int run() throws IOException {
    ChunkId expected = null;
    if (expect != null) {
      if (!ChunkId.isValid(expect)) {
        throw usage("--expect '" + expect + "' is not a full 64-digit version id");
      }
      expected = ChunkId.parse(expect.toLowerCase(java.util.Locale.ROOT));
    }
    if (delete != (tag == null)) {
      throw usage(delete
          ? "tag -d takes one argument, model:tag (got '" + ref + "' and '" + tag + "')"
          : "Missing required parameter: 'TAG'");
    }
    if (!delete) {
      checkOrder();
    }
    try (Repository repo = openRepo()) {
      if (delete) {
        TagResult r = repo.untag(ref, expected);
        if (json) {
          printJson(object().put("ref", ref).put("old", r.oldId().hex()).put("new", (String) null)
              .put("result", JsonOut.value(r.result())));
        } else {
          out().println("deleted " + ref + " (was " + r.oldId().shortHex(12) + ")");
        }
        return 0;
      }
      TagResult r = repo.tag(ref, tag, expected);
      if (json) {
        printJson(object().put("ref", JsonOut.userRef(r.ref())).put("old", r.oldId() == null ? null : r.oldId().hex())
            .put("new", r.newId().hex()).put("result", JsonOut.value(r.result())));
      } else {
        out().println(tag + " -> " + r.newId().hex() + (r.oldId() == null ? " (new tag)"
            : r.oldId().equals(r.newId()) ? " (unchanged)" : " (was " + r.oldId().shortHex(12) + ")"));
      }
    }
    return 0;
  }

  /**
   * Refuses a TAG written as a ref: {@code tag m@3f2a m:prod} (the model given twice) or, in git's order, {@code tag
   * m:new m@3f2a}, which was reported as "model 'm' has no tag 'new'" or as a tag name with a bad character.
   */
  private void checkOrder() {
    int at = tag.indexOf('@');
    int colon = tag.indexOf(':');
    if (at > 0 && ref.indexOf(':') > 0 && ref.indexOf('@') < 0) {
      throw usage("TAG '" + tag + "' is a version, not a tag name: the version comes first, then the tag name alone,"
          + " e.g. ferry tag " + tag + " " + ref.substring(ref.indexOf(':') + 1));
    }
    if (colon > 0 && at < 0) {
      throw usage("TAG '" + tag + "' names a model too: give the tag name alone, e.g. ferry tag " + ref + " "
          + tag.substring(colon + 1));
    }
  }
}
