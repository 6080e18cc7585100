package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every {@code ferry ...} command line in README.md and docs/*.md (in a code block, or quoted inline) names commands
 * and options that exist: each is parsed by the CLI's own command spec, as {@code ferry} would parse it, without being
 * run. Placeholders in capitals ({@code MODEL}, {@code DIR}) are taken for what they stand for.
 */
class DocsCommandsTest {
  private static final Pattern INLINE = Pattern.compile("`((?:[A-Z][A-Z0-9_]*=\\S+ )*ferry [^`]+)`");

  @Test
  void everyDocumentedCommandParses() throws IOException {
    List<String> failures = new ArrayList<>();
    List<String> checked = new ArrayList<>();
    for (Path doc : docs()) {
      for (Example example : examples(doc)) {
        checked.add(example.line());
        String why = parseError(example.line(), example.whole());
        if (why != null) {
          failures.add(doc.getFileName() + ":" + example.lineNumber() + ": " + example.line() + "\n    -> " + why);
        }
      }
    }
    assertThat(checked).as("command lines found in the docs").hasSizeGreaterThan(100);
    assertThat(failures).as("documented command lines the CLI rejects").isEmpty();
  }

  @Test
  void everyHelpExampleParses() {
    List<String> failures = new ArrayList<>();
    List<String> checked = new ArrayList<>();
    helpExamples(FerryCli.commandLine(), checked);
    for (String example : checked) {
      String why = parseError(example, true);
      if (why != null) {
        failures.add(example + "\n    -> " + why);
      }
    }
    assertThat(checked).as("examples found in --help").hasSizeGreaterThan(30);
    assertThat(failures).as("examples in --help the CLI rejects").isEmpty();
  }

  private static void helpExamples(CommandLine cmd, List<String> examples) {
    StringBuilder example = new StringBuilder();
    for (String footer : cmd.getCommandSpec().usageMessage().footer()) {
      for (String line : footer.split("%n")) {
        String s = line.strip();
        if (example.length() > 0 || s.matches("([A-Z][A-Z0-9_]*=\\S+ )*ferry .*")) {
          example.append(s.endsWith("\\") ? s.substring(0, s.length() - 1) : s).append(' ');
          if (!s.endsWith("\\")) {
            examples.add(example.toString().strip());
            example.setLength(0);
          }
        }
      }
    }
    for (CommandLine sub : cmd.getSubcommands().values()) {
      if (sub != cmd) {
        helpExamples(sub, examples);
      }
    }
  }

  /** A command line found in a document, the line it starts on, and whether it is a whole command (in a code block). */
  record Example(String line, int lineNumber, boolean whole) {}

  static List<Path> docs() throws IOException {
    Path root = Path.of("").toAbsolutePath();
    while (!Files.exists(root.resolve("README.md")) || !Files.isDirectory(root.resolve("docs"))) {
      root = root.getParent();
    }
    List<Path> docs = new ArrayList<>();
    docs.add(root.resolve("README.md"));
    try (Stream<Path> files = Files.list(root.resolve("docs"))) {
      files.filter(f -> f.toString().endsWith(".md")).sorted().forEach(docs::add);
    }
    return docs;
  }

  static List<Example> examples(Path doc) throws IOException {
    List<String> lines = Files.readAllLines(doc);
    List<Example> found = new ArrayList<>();
    boolean code = false;
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      if (line.strip().startsWith("```")) {
        code = !code;
        continue;
      }
      if (code) {
        String s = line.strip().replaceFirst("^\\$ ", "");
        // a line such as "ferry ls: cannot reach ..." is a message the CLI prints, not a command
        if (!s.matches("([A-Z][A-Z0-9_]*=\\S+ )*ferry( .*)?") || message(s)) {
          continue;
        }
        int start = i;
        StringBuilder all = new StringBuilder();
        while (s.endsWith("\\") && i + 1 < lines.size()) {
          all.append(s, 0, s.length() - 1).append(' ');
          s = lines.get(++i).strip();
        }
        all.append(s);
        found.add(new Example(all.toString().strip(), start + 1, true));
      } else {
        Matcher m = INLINE.matcher(line);
        while (m.find()) {
          if (message(m.group(1))) {
            continue;
          }
          found.add(new Example(m.group(1).strip(), i + 1, false));
        }
      }
    }
    return found;
  }

  /** Whether a line is a message the CLI prints, such as "ferry ls: cannot reach ...", rather than a command. */
  private static boolean message(String line) {
    return line.matches("ferry( [a-z<>-]+)*:( .*)?");
  }

  /**
   * Why the CLI rejects this command line, or null if it does not. Every subcommand and option it names must exist;
   * a line that is a whole command (in a code block, with no placeholder such as {@code <ref>}, {@code [--opt]} or
   * {@code A|B}) must also parse completely, its required arguments given and its values of the right type.
   */
  static String parseError(String line, boolean whole) {
    List<String> words = words(line);
    while (!words.get(0).equals("ferry")) {
      words.remove(0);
    }
    words.remove(0);
    CommandLine cmd = FerryCli.commandLine();
    boolean positional = false;
    for (int i = 0; i < words.size(); i++) {
      String word = words.get(i).replaceAll("^\\[+|]+$", "");
      if (word.equals("--")) {
        break;
      } else if (word.startsWith("-") && word.length() > 1 && !word.equals("-|")) {
        String name = word.contains("=") ? word.substring(0, word.indexOf('=')) : word;
        CommandLine.Model.OptionSpec option = cmd.getCommandSpec().findOption(name);
        if (option == null && name.matches("-[a-zA-Z]{2,}")) {
          option = cmd.getCommandSpec().findOption(name.substring(0, 2));
        }
        if (option == null) {
          return "'" + cmd.getCommandSpec().qualifiedName(" ") + "' has no option " + name;
        }
        if (!word.contains("=") && option.arity().min() > 0 && name.length() == word.length()) {
          i++;
        }
      } else if (!positional && !cmd.getSubcommands().isEmpty() && !word.isEmpty() && !word.equals("|")) {
        CommandLine sub = cmd.getSubcommands().get(word);
        if (sub == null) {
          return "'" + cmd.getCommandSpec().qualifiedName(" ") + "' has no subcommand " + word;
        }
        cmd = sub;
      } else {
        positional = true;
      }
    }
    if (!whole || line.matches(".*(<|\\[|\\||\\.\\.\\.|\u2026).*")) {
      return null;
    }
    try {
      List<String> args = words(line);
      FerryCli.commandLine().parseArgs(args.subList(args.indexOf("ferry") + 1, args.size()).toArray(new String[0]));
      return null;
    } catch (CommandLine.ParameterException e) {
      return e.getMessage();
    }
  }

  /** The words of a shell command, up to its first pipe, redirection, separator or comment. */
  static List<String> words(String line) {
    List<String> words = new ArrayList<>();
    StringBuilder word = null;
    char quote = 0;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quote != 0) {
        if (c == quote) {
          quote = 0;
        } else {
          word.append(c);
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
        word = word == null ? new StringBuilder() : word;
      } else if (Character.isWhitespace(c)) {
        if (word != null) {
          words.add(word.toString());
          word = null;
        }
      } else if ((c == '|' || c == '>' || c == '<' || c == ';' || c == '&' || c == '#') && word == null
          || c == '|' || c == ';') {
        break;
      } else if (c == '>' && word != null && word.toString().matches("[0-9]")) {
        word = null;
        break;
      } else {
        word = word == null ? new StringBuilder() : word;
        word.append(c);
      }
    }
    if (word != null) {
      words.add(word.toString());
    }
    return words;
  }
}
