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
import java.util.Locale;

/**
 * Revisions as Hugging Face clients and the model API name them: {@code main} (also {@code head}, {@code HEAD} and
 * {@code refs/heads/main}, which some clients send for the default branch) is the model's head, a 64-digit hex text is
 * a version id of the model, {@code refs/tags/NAME} is the tag NAME and nothing else (not the head for {@code main},
 * not a version for hex digits), anything else a tag or, when the model has no such tag and it is 4 to 63 hex digits,
 * a version id prefix (an abbreviated commit hash, as git and the Hub take it: a ref wins over a prefix).
 */
public final class Revisions {
  private Revisions() {}

  /** The revision that means the model's default ref, its head. */
  public static final String MAIN = "main";

  /** The Hub's full names of a branch and a tag: {@code refs/heads/main}, {@code refs/tags/v1}. */
  private static final String HEADS = "refs/heads/";
  private static final String TAGS = "refs/tags/";

  /** The fewest hex digits taken as an abbreviated version id, as git and {@code ferry}'s {@code model@prefix}. */
  private static final int MIN_PREFIX = 4;

  /**
   * Resolves revision {@code asked} of {@code model}; a not-found message suggests only models {@code access} may read.
   *
   * @throws HttpError 400 for an invalid model or tag name, 404 (with {@code X-Error-Code}-style codes {@code
   *     RepoNotFound} or {@code RevisionNotFound}) when it does not exist
   */
  public static VersionRef resolve(Repository repo, Access access, String model, String asked) throws HttpError,
      IOException {
    try {
      RefNames.checkModel(model);
    } catch (InvalidInputException e) {
      throw new HttpError(400, "bad-model", e.getMessage());
    }
    // refs/tags/NAME is the tag NAME even when NAME is main or hex digits, as list_repo_refs lists a tag
    boolean tag = asked.startsWith(TAGS);
    String revision = tag ? asked.substring(TAGS.length()) : asked;
    String text;
    if (tag) {
      text = model + ":" + checkTag(revision);
    } else if (revision.equals(MAIN) || revision.equals(RefNames.HEAD) || revision.equals("HEAD")
        || revision.equals(HEADS + MAIN)) {
      text = model;
    } else if (revision.length() == ChunkId.HEX_LENGTH && ChunkId.isValid(revision)) {
      text = model + "@" + revision.toLowerCase(Locale.ROOT);
    } else {
      text = model + ":" + checkTag(revision);
    }
    try {
      return repo.resolve(text);
    } catch (NotFoundException e) {
      if (!tag && hasRefs(repo, model) && revision.length() >= MIN_PREFIX && revision.length() < ChunkId.HEX_LENGTH
          && revision.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
        return prefix(repo, model, revision, e);
      }
      throw notFound(repo, access, model, e);
    }
  }

  /** A tag name, or 400 {@code bad-revision} saying why it cannot be one. */
  private static String checkTag(String revision) throws HttpError {
    try {
      return RefNames.checkTag(revision);
    } catch (InvalidInputException e) {
      throw new HttpError(400, "bad-revision", e.getMessage());
    }
  }

  /**
   * The version of {@code model} whose id starts with {@code prefix} (hex digits, as {@code ferry show MODEL@PREFIX}
   * finds it: the model's ref logs, then its history).
   *
   * @throws HttpError 404 as {@link #resolve}, 400 {@code bad-revision} for a prefix that is not one, or one that
   *     several versions share
   */
  public static VersionRef byPrefix(Repository repo, Access access, String model, String prefix) throws HttpError,
      IOException {
    try {
      return repo.resolve(model + "@" + prefix);
    } catch (NotFoundException e) {
      throw notFound(repo, access, model, e);
    } catch (InvalidInputException e) { // not a prefix, or one of several versions
      throw new HttpError(400, "bad-revision", e.getMessage());
    }
  }

  /** 404 {@code RepoNotFound} when the model has no ref, else {@code RevisionNotFound}, suggesting what may be read. */
  private static HttpError notFound(Repository repo, Access access, String model, NotFoundException e)
      throws IOException {
    return new HttpError(404, hasRefs(repo, model) ? "RevisionNotFound" : "RepoNotFound",
        ModelSuggestions.forAccess(e.getMessage(), access, repo.backend().refs()));
  }

  private static boolean hasRefs(Repository repo, String model) throws IOException {
    return repo.backend().refs().list(model + "/").stream()
        .anyMatch(r -> RefNames.isValidRef(r) && RefNames.modelOf(r).equals(model));
  }

  /** The version whose id starts with {@code prefix}, asked for as a revision that is no tag of the model. */
  private static VersionRef prefix(Repository repo, String model, String prefix, NotFoundException noTag)
      throws HttpError, IOException {
    try {
      return repo.resolve(model + "@" + prefix.toLowerCase(Locale.ROOT));
    } catch (NotFoundException e) {
      throw new HttpError(404, "RevisionNotFound", noTag.getMessage() + ", and no version id starts with '"
          + prefix + "'");
    } catch (InvalidInputException ambiguous) {
      throw new HttpError(400, "bad-revision", ambiguous.getMessage());
    }
  }
}
