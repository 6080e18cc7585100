package io.ferry.server.auth;

import io.ferry.repo.Suggestions;
import io.ferry.store.RefNames;
import io.ferry.store.RefStore;
import java.io.IOException;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Not-found messages about models as a token may see them. Core's "no model 'lama' in STORE; did you mean 'llama'?"
 * suggests any model of the store and names where the store is; the server answers "no model 'lama' in this store"
 * with suggestions among the models the token may read only, so that a 404 does not tell a reader of {@code org/*} that
 * {@code orgx/tiny} exists. Stateless.
 */
public final class ModelSuggestions {
  private static final Pattern NO_MODEL = Pattern.compile("no model '([^']*)' in .*", Pattern.DOTALL);

  private ModelSuggestions() {}

  /**
   * The message to send for a not-found {@code message}: core's "no model" message rewritten as above (with no
   * suggestion when {@code access} is null, or when the refs cannot be listed: a suggestion is a nicety, the 404 is
   * the answer), any other message unchanged.
   */
  public static String forAccess(String message, Access access, RefStore refs) {
    Matcher m = message == null ? null : NO_MODEL.matcher(message);
    if (m == null || !m.matches()) {
      return message;
    }
    String model = m.group(1);
    Set<String> readable = new TreeSet<>();
    if (access != null) {
      try {
        for (String ref : refs.list("")) {
          if (RefNames.isValidRef(ref) && access.canRead(RefNames.modelOf(ref))) {
            readable.add(RefNames.modelOf(ref));
          }
        }
      } catch (IOException e) {
        readable.clear();
      }
    }
    return "no model '" + model + "' in this store" + Suggestions.didYouMean(model, readable);
  }
}
