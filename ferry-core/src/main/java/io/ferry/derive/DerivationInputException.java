package io.ferry.derive;

import io.ferry.error.InvalidInputException;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * Bad input to a derivation, whose message names parameters of the derivation ({@code bits}, {@code group_size},
 * {@code target}...) as {@link Param}s rather than as text. {@link #getMessage()} spells each parameter as the
 * library does ("group size must be positive, got 0"); a front end spells them its own way with {@link
 * #message(Function)} (the CLI: "--group-size must be positive, got 0"), so that the library never names a command
 * line option. Like any {@link InvalidInputException}, it is thrown before the store changes.
 */
public final class DerivationInputException extends InvalidInputException {
  /** The message in parts: literal {@link String}s and {@link Param}s, in order. */
  private final List<Object> parts;

  /**
   * A parameter named in a message.
   *
   * @param key the parameter's key: a key of {@link DeriveSpec#parameters()} ({@code bits}, {@code group_size},
   *     {@code to}, {@code include}...), {@code target} (where the derived version goes) or {@code method:<name>}
   *     (a derivation method, e.g. {@code method:quantize})
   * @param text how the library spells it in a message
   */
  public record Param(String key, String text) {
    public Param {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(text, "text");
    }
  }

  /**
   * A message made of {@code parts}, each a {@link String} or a {@link Param}.
   *
   * @throws IllegalArgumentException if a part is neither
   */
  public DerivationInputException(Object... parts) {
    this(null, parts);
  }

  /** As {@link #DerivationInputException(Object...)}, with a cause. */
  public DerivationInputException(Throwable cause, Object... parts) {
    super(render(List.of(parts), Param::text), cause);
    this.parts = List.of(parts);
  }

  /** The parameter spelled as the library spells it: its key with spaces for underscores. */
  static Param param(String key) {
    return new Param(key, key.replace('_', ' '));
  }

  /** A parameter spelled {@code text} by the library. */
  static Param param(String key, String text) {
    return new Param(key, text);
  }

  /**
   * The message with each parameter spelled by {@code spelling}; where it returns null, as the library spells it.
   */
  public String message(Function<Param, String> spelling) {
    return render(parts, p -> {
      String s = spelling.apply(p);
      return s == null ? p.text() : s;
    });
  }

  private static String render(List<Object> parts, Function<Param, String> spelling) {
    StringBuilder b = new StringBuilder();
    for (Object o : parts) {
      if (o instanceof Param p) {
        b.append(spelling.apply(p));
      } else if (o instanceof String s) {
        b.append(s);
      } else {
        throw new IllegalArgumentException("a message part must be a String or a Param, got " + o);
      }
    }
    return b.toString();
  }
}
