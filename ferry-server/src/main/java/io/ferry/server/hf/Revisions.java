package io.ferry.server.hf;

import io.ferry.error.InvalidInputException;
import io.ferry.error.NotFoundException;
import io.ferry.id.ChunkId;
import io.ferry.repo.Repository;
import io.ferry.repo.Results.VersionRef;
import io.ferry.server.auth.Access;
import io.ferry.server.auth.ModelSuggestions;
import io.ferry.server.http.HttpError;
import io.ferry.store.RefNames;
import java.io.IOException;

/**
 * Revisions as Hugging Face clients and the model API name them: {@code main} (also {@code head} and {@code HEAD},
 * which some clients send for the default branch) is the model's head, a 64-digit hex text is a version id of the
 * model, anything else a tag.
 */
public final class Revisions {
  private Revisions() {}

  /** The revision that means the model's default ref, its head. */
  public static final String MAIN = "main";

  /**
   * Resolves {@code revision} of {@code model}; a not-found message suggests only models {@code access} may read.
   *
   * @throws HttpError 400 for an invalid model or tag name, 404 (with {@code X-Error-Code}-style codes {@code
   *     RepoNotFound} or {@code RevisionNotFound}) when it does not exist
   */
  public static VersionRef resolve(Repository repo, Access access, String model, String revision) throws HttpError,
      IOException {
    try {
      RefNames.checkModel(model);
    } catch (InvalidInputException e) {
      throw new HttpError(400, "bad-model", e.getMessage());
    }
    String text;
    if (revision.equals(MAIN) || revision.equals(RefNames.HEAD) || revision.equals("HEAD")) {
      text = model;
    } else if (revision.length() == ChunkId.HEX_LENGTH && ChunkId.isValid(revision)) {
      text = model + "@" + revision.toLowerCase(java.util.Locale.ROOT);
    } else {
      try {
        RefNames.checkTag(revision);
      } catch (InvalidInputException e) {
        throw new HttpError(400, "bad-revision", e.getMessage());
      }
      text = model + ":" + revision;
    }
    try {
      return repo.resolve(text);
    } catch (NotFoundException e) {
      boolean noModel = repo.backend().refs().list(model + "/").stream()
          .noneMatch(r -> RefNames.isValidRef(r) && RefNames.modelOf(r).equals(model));
      throw new HttpError(404, noModel ? "RepoNotFound" : "RevisionNotFound",
          ModelSuggestions.forAccess(e.getMessage(), access, repo.backend().refs()));
    }
  }
}
