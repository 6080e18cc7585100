package io.ferry.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A fish completion script for a command tree (picocli writes bash's only). Each command's subcommands and options
 * are offered once the words typed so far name that command: a helper function walks the typed words, descending
 * into a subcommand where a word names one of the current command's subcommands (option values and operands in
 * between are passed over), and each {@code complete} line asks whether it reached the command it belongs to.
 * Options that take a value ask for one ({@code -r}, with their completion candidates where picocli has them, else
 * fish's file names); hidden options and commands are left out.
 */
final class FishCompletion {
  private FishCompletion() {}

  /** The script for {@code root}, whose command is named {@code name}. */
  static String script(String name, CommandLine root) {
    String fn = "__" + name.replaceAll("[^A-Za-z0-9_]", "_");
    StringBuilder out = new StringBuilder();
    out.append("# fish completion for ").append(name).append(": ").append(name).append(" completion fish | source\n");
    out.append("complete -c ").append(name).append(" -e\n\n");
    out.append("function ").append(fn).append("_children --description 'subcommands of the command named by $argv'\n");
    out.append("    switch \"$argv\"\n");
    List<String[]> lines = new ArrayList<>();
    walk(root, "", name, fn, out, lines);
    out.append("    end\nend\n\n");
    out.append("function ").append(fn).append("_path --description 'the subcommands the typed words name'\n");
    out.append("    set -l path\n");
    out.append("    for w in (commandline -opc)[2..-1]\n");
    out.append("        if contains -- $w (").append(fn).append("_children $path)\n");
    out.append("            set -a path $w\n");
    out.append("        end\n");
    out.append("    end\n");
    out.append("    echo \"$path\"\n");
    out.append("end\n\n");
    out.append("function ").append(fn)
        .append("_at --description 'whether the typed words name exactly the command $argv'\n");
    out.append("    set -l path (").append(fn).append("_path)\n");
    out.append("    test \"$path\" = \"$argv\"\n");
    out.append("end\n\n");
    for (String[] l : lines) {
      // command names are plain words ([a-z-]): safe inside the quoted condition
      out.append("complete -c ").append(name).append(" -n ").append(quote((fn + "_at " + l[0]).trim()))
          .append(l[1]).append('\n');
    }
    return out.toString();
  }

  private static void walk(CommandLine cmd, String path, String name, String fn, StringBuilder children,
      List<String[]> lines) {
    CommandSpec spec = cmd.getCommandSpec();
    List<String> subs = new ArrayList<>();
    boolean hasSubs = false;
    for (Map.Entry<String, CommandLine> e : cmd.getSubcommands().entrySet()) {
      CommandSpec sub = e.getValue().getCommandSpec();
      if (sub.usageMessage().hidden()) {
        continue;
      }
      hasSubs = true;
      subs.add(e.getKey());
      // an alias is completed too, described as its command
      lines.add(new String[] {path, " -f -a " + quote(e.getKey()) + describe(sub.usageMessage().description())});
    }
    if (!subs.isEmpty()) {
      children.append("        case ").append(quote(path)).append("\n            printf '%s\\n'");
      for (String s : subs) {
        children.append(' ').append(quote(s));
      }
      children.append('\n');
    }
    for (OptionSpec o : spec.options()) {
      if (o.hidden()) {
        continue;
      }
      StringBuilder l = new StringBuilder();
      for (String n : o.names()) {
        if (n.startsWith("--")) {
          l.append(" -l ").append(quote(n.substring(2)));
        } else if (n.length() == 2 && n.startsWith("-")) {
          l.append(" -s ").append(quote(n.substring(1)));
        } else {
          l.append(" -o ").append(quote(n.substring(1)));
        }
      }
      if (o.arity().max() > 0 && !o.typeInfo().isBoolean()) {
        l.append(" -r");
        if (o.completionCandidates() != null) {
          List<String> values = new ArrayList<>();
          o.completionCandidates().forEach(values::add);
          l.append(" -f -a ").append(quote(String.join(" ", values)));
        }
      }
      l.append(describe(o.description()));
      lines.add(new String[] {path, l.toString()});
    }
    if (hasSubs) {
      for (Map.Entry<String, CommandLine> e : cmd.getSubcommands().entrySet()) {
        CommandLine sub = e.getValue();
        if (!sub.getCommandSpec().usageMessage().hidden()) { // aliases too: their options are completed under their name
          walk(sub, path.isEmpty() ? e.getKey() : path + " " + e.getKey(), name, fn, children, lines);
        }
      }
    }
  }

  private static String describe(String[] description) {
    if (description == null || description.length == 0 || description[0].isBlank()) {
      return "";
    }
    String first = description[0].replaceAll("%n", " ").replaceAll("\\s+", " ").trim();
    // the first sentence: a stop before a capital (not the one of "e.g. ")
    java.util.regex.Matcher stop = java.util.regex.Pattern.compile("\\.\\s+(?=[A-Z])").matcher(first);
    if (stop.find()) {
      first = first.substring(0, stop.start() + 1);
    }
    return " -d " + quote(first);
  }

  /** {@code s} as one fish word in single quotes. */
  static String quote(String s) {
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
  }
}
