package io.ferry.cli;

import io.ferry.error.InvalidInputException;
import io.ferry.server.auth.Scope;
import io.ferry.server.auth.TokenFile;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "token", description = "Manage the bearer tokens of ferry serve: the file keeps only their salted"
    + " SHA-256; a running server sees changes on its next request.",
    subcommands = {TokenCommand.Create.class, TokenCommand.Ls.class, TokenCommand.Revoke.class})
final class TokenCommand extends GroupCommand {

  /** Adds the entry's scopes to {@code o} as an array of strings ({@code read:PATTERN}, ...), and returns it. */
  private static com.fasterxml.jackson.databind.node.ObjectNode scopes(
      com.fasterxml.jackson.databind.node.ObjectNode o, TokenFile.Entry e) {
    com.fasterxml.jackson.databind.node.ArrayNode a = o.putArray("scopes");
    e.scopes().forEach(s -> a.add(s.toString()));
    return o;
  }

  @Command(name = "create", description = "Create a token and print it (shown once: it is stored only hashed).",
      footer = {"%nScopes: read:PATTERN, write:PATTERN (implies read), admin; PATTERN is a glob over model names.",
          "%nExamples:%n  ferry token create --tokens tokens.json --scope 'read:llama*' --name inference",
          "  ferry token create --tokens tokens.json --scope 'write:org/*' \\",
          "      --scope 'read:*' --name ci"})
  static final class Create extends StoreCommand {
    @Option(names = "--tokens", required = true, paramLabel = "FILE", description = "Tokens file (created if absent).")
    Path tokens;

    @Option(names = "--scope", required = true, paramLabel = "SCOPE", description = "read:PATTERN, write:PATTERN or"
        + " admin (repeatable).")
    List<String> scopes = new ArrayList<>();

    @Option(names = "--name", paramLabel = "NAME", description = "A name for logs (default: token-<id>).")
    String name;

    @Override
    int run() throws IOException {
      if (name != null && name.isBlank()) {
        throw usage("--name is empty (an unset shell variable?); give a name, or leave --name out for token-<id>");
      }
      List<Scope> parsed = new ArrayList<>();
      for (String s : scopes) {
        Scope scope;
        try {
          scope = Scope.parse(s);
        } catch (IllegalArgumentException e) {
          throw new InvalidInputException(e.getMessage());
        }
        if (!parsed.contains(scope)) { // a scope given twice grants nothing more: listed once
          parsed.add(scope);
        }
      }
      TokenFile.Created c;
      try {
        c = TokenFile.create(tokens, name, parsed, Clock.systemUTC(), new SecureRandom());
      } catch (IllegalArgumentException e) {
        throw new InvalidInputException(e.getMessage());
      }
      if (json) {
        com.fasterxml.jackson.databind.node.ObjectNode o = object().put("id", c.entry().id())
            .put("name", c.entry().name());
        scopes(o, c.entry());
        printJson(o.put("token", c.token()));
      } else {
        out().println("created token " + c.entry().name() + " (id " + c.entry().id() + ", scopes "
            + c.entry().scopes() + "); it is shown only now: " + c.token());
      }
      return 0;
    }
  }

  @Command(name = "list", aliases = "ls", description = "List the tokens (ids, names, scopes; never secrets).",
      footer = {"%nExample:%n  ferry token list --tokens tokens.json"})
  static final class Ls extends StoreCommand {
    @Option(names = "--tokens", required = true, paramLabel = "FILE", description = "Tokens file.")
    Path tokens;

    @Override
    int run() throws IOException {
      List<TokenFile.Entry> entries = TokenFile.list(tokens);
      if (json) {
        // one document: an array, as every listing prints
        com.fasterxml.jackson.databind.node.ArrayNode all = json().createArrayNode();
        for (TokenFile.Entry e : entries) {
          scopes(all.addObject().put("id", e.id()).put("name", e.name()), e).put("created", e.created().toString());
        }
        printJson(all);
        return 0;
      }
      for (TokenFile.Entry e : entries) {
        out().println(e.id() + "  " + Format.printable(e.name()) + "  " + e.scopes() + "  " + e.created());
      }
      return 0;
    }
  }

  @Command(name = "revoke", description = "Remove a token by id or name; servers refuse it from their next request.",
      footer = {"%nExample:%n  ferry token revoke --tokens tokens.json inference"})
  static final class Revoke extends StoreCommand {
    @Option(names = "--tokens", required = true, paramLabel = "FILE", description = "Tokens file.")
    Path tokens;

    @Parameters(index = "0", paramLabel = "ID|NAME")
    String token;

    @Override
    int run() throws IOException {
      Optional<TokenFile.Entry> e = TokenFile.revoke(tokens, token);
      if (e.isEmpty()) {
        throw new io.ferry.error.NotFoundException("no token with id or name '" + token + "' in " + tokens);
      }
      if (json) {
        printJson(object().put("id", e.get().id()).put("name", e.get().name()));
      } else {
        out().println("revoked " + Format.printable(e.get().name()) + " (id " + e.get().id() + ")");
      }
      return 0;
    }
  }
}
