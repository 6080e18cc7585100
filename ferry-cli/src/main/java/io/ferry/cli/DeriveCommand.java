package io.ferry.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.derive.DerivationInputException;
import io.ferry.derive.DeriveResult;
import io.ferry.derive.DeriveSpec;
import io.ferry.derive.Deriver;
import io.ferry.derive.MetricFigures;
import io.ferry.derive.TensorFilter;
import io.ferry.derive.TensorReport;
import io.ferry.error.InvalidInputException;
import io.ferry.repo.Repository;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ferry derive}: lossy derivations as new versions with measured error. */
@Command(name = "derive",
    description = "Make a derived version (cast, quantize, dequantize, prune) with error metrics.",
    subcommands = {DeriveCommand.Cast.class, DeriveCommand.Quantize.class, DeriveCommand.Dequantize.class,
        DeriveCommand.Prune.class},
    footer = {"%nEach derivation makes a new version: the source is its second parent, its",
        "derivation record holds method, parameters, source and overall metrics, and",
        "ferry-derivation.json the metrics of every tensor. Unchanged tensors dedup.",
        "%nExamples:%n  ferry derive cast llama:prod --to bf16 --as llama:bf16",
        "  ferry derive quantize llama:prod --bits 4 --group-size 128 --as llama:q4",
        "  ferry derive dequantize llama:q4 --to bf16 --as llama:q4-back",
        "  ferry derive prune llama:prod --sparsity 0.5 --exclude norm --as llama:s50"})
final class DeriveCommand extends GroupCommand {

  /** Options and output shared by the derive subcommands. */
  abstract static class Base extends StoreCommand {
    @Parameters(index = "0", paramLabel = "REF", description = "The version to derive from (name, name:tag, name@id).")
    String source;

    @Option(names = "--as", required = true, paramLabel = "MODEL[:TAG]", description = "Where the derived version goes.")
    String target;

    @Option(names = {"-m", "--message"}, paramLabel = "TEXT",
        description = "Version message (default: describes the derivation).")
    String message;

    @Option(names = "--temp-dir", paramLabel = "DIR", description = "Where the derived files are written before "
        + "the push (default: the system temporary directory).")
    Path tempDir;

    @Option(names = "--threads", paramLabel = "N", description = "Tensors processed at once (default: cores).")
    Integer threads;

    @Option(names = "--tensors", description = "Print every tensor's metrics.")
    boolean perTensor;

    abstract DeriveSpec derivation() throws IOException;

    @Override
    final int run() throws IOException {
      DeriveSpec d;
      try {
        d = derivation();
      } catch (DerivationInputException e) {
        // an option's value out of its range (--sparsity 1, --to q4): a usage error, as picocli's own are
        throw usage(e.message(Base::option), e);
      }
      if (threads != null && threads < 1) {
        throw usage("--threads must be at least 1, got '" + given("--threads") + "'");
      }
      try {
        try (Repository repo = openRepo()) {
          int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
          DeriveResult r = new Deriver(repo, n, tempDir).derive(source, target, d, message, progress());
          print(repo, d, r);
        }
      } catch (DerivationInputException e) {
        throw new InvalidInputException(e.message(Base::option), e);
      }
      return 0;
    }

    /** How this command spells a parameter that a library message names. */
    static String option(DerivationInputException.Param p) {
      return switch (p.key()) {
        case "target" -> "--as";
        case "method:quantize" -> "'ferry derive quantize'";
        default -> p.key().startsWith("method:") ? null : "--" + p.key().replace('_', '-');
      };
    }

    /** Error figures as JSON: {@code elements}, then each figure by its camelCase name. */
    private static void figures(ObjectNode n, io.ferry.derive.MetricFigures f) {
      n.put("elements", f.elements());
      JsonOut.metrics(n, f.figures());
    }

    private void print(Repository repo, DeriveSpec d, DeriveResult r) throws IOException {
      List<TensorReport> kept = r.tensors().stream().filter(t -> !t.changed()).toList();
      if (json) {
        ObjectNode n = PushCommand.pushJson(object(), repo, target, r.push());
        n.put("sourceVersion", r.source().hex()).put("sourceTensorBytes", r.sourceTensorBytes());
        figures(n.putObject("overall"), r.overall());
        ArrayNode ts = n.putArray("tensors");
        for (TensorReport t : r.tensors()) {
          ObjectNode tn = ts.addObject().put("name", t.name()).put("action", t.action().label())
              .put("reason", t.reason());
          if (t.metrics() == null) {
            tn.putNull("metrics");
          } else {
            figures(tn.putObject("metrics"), t.metrics());
          }
        }
        ObjectNode files = n.putObject("keptFiles");
        r.report().keptFiles().forEach(files::put);
        printJson(n);
        return;
      }
      out().println(r.push().versionId().hex());
      err().printf("%s %s of %s: %s changed, %d kept; %s of source tensors, %s new in the store%n",
          d.method(), d.parameters(), source, Format.count(r.changedCount(), "tensor"), kept.size(),
          Format.bytes(r.sourceTensorBytes()),
          Format.bytes(r.push().newStoredBytes()));
      if (r.push().upToDate()) {
        err().println("up to date: " + target + " is " + r.push().versionId().hex() + ", the same derivation of the "
            + "same source (no new version)");
      }
      if (r.sourceTarget() != null) {
        err().println("error measured against the original " + r.sourceTarget().hex());
      } else if (d instanceof DeriveSpec.Dequantize) {
        err().println("the quantized version's source is not in this store: only sparsity is measured");
      }
      err().println("overall   " + metrics(r.overall()));
      if (d instanceof DeriveSpec.Prune) {
        // a tensor of no elements has no sparsity
        var sp = r.tensors().stream().filter(TensorReport::changed).mapToDouble(t -> t.metrics().sparsity())
            .filter(s -> !Double.isNaN(s)).summaryStatistics();
        if (sp.getCount() > 0) {
          err().printf(Locale.ROOT, "sparsity  reached %.6f overall, %.6f to %.6f per pruned tensor%n",
              r.overall().sparsity(), sp.getMin(), sp.getMax());
        }
      }
      Map<String, Integer> reasons = new LinkedHashMap<>();
      for (TensorReport t : kept) {
        reasons.merge(t.reason(), 1, Integer::sum);
      }
      reasons.forEach((why, count) -> err().printf("kept      %d tensor%s: %s%n", count, count == 1 ? "" : "s", why));
      r.report().keptFiles().forEach((path, why) -> err().printf("kept      %s: %s%n", Format.printable(path), why));
      if (perTensor) {
        for (TensorReport t : r.tensors()) {
          // a name is the file's to choose: escaped, so that it cannot move the cursor or recolour the terminal
          err().printf("  %s %-12s %s%n", Format.padded(Format.printable(t.name()), 48), t.action().label(),
              t.metrics() == null ? t.reason() : metrics(t.metrics()));
        }
      }
    }

    static String metrics(MetricFigures m) {
      if (m.elements() == 0) {
        return "no elements";
      }
      StringBuilder b = new StringBuilder();
      m.figures().forEach((k, v) -> b.append(b.length() == 0 ? "" : "  ").append(k).append('=')
          .append(Format.metric(k, v, "%.6g")));
      return b.toString();
    }

    TensorFilter filter(String include, String exclude) throws IOException {
      // an empty regex was taken for none given: --exclude "$KEEP" with KEEP unset derived the tensors meant to be kept
      for (String[] o : new String[][] {{"--include", include}, {"--exclude", exclude}}) {
        if ("".equals(o[1])) {
          throw usage(o[0] + " is empty (an unset shell variable?): give a regular expression, or leave " + o[0]
              + " out");
        }
      }
      return TensorFilter.of(include, exclude);
    }
  }

  @Command(name = "cast", description = "Cast float tensors (F32, F16, BF16, F64) to another float type, rounding to "
      + "nearest even. Other tensors are kept as they are.",
      footer = {"%nExamples:%n  ferry derive cast llama:prod --to bf16 --as llama:bf16",
          "  ferry derive cast llama:prod --to f16 --exclude norm --as llama-f16:v1"})
  static final class Cast extends Base {
    @Option(names = "--to", required = true, paramLabel = "TYPE", description = "bf16, f16 or f32.")
    String to;

    @Option(names = "--include", paramLabel = "REGEX", description = "Only tensors whose name matches.")
    String include;

    @Option(names = "--exclude", paramLabel = "REGEX", description = "Leave out tensors whose name matches.")
    String exclude;

    @Override
    DeriveSpec derivation() throws IOException {
      return new DeriveSpec.Cast(DeriveSpec.floatTarget("to", to), filter(include, exclude));
    }
  }

  @Command(name = "quantize", description = "Quantize 2-D float tensors to 8- or 4-bit integers with a scale (and a "
      + "zero point) per group of a row; layout ferry-groupwise-int/1 (docs/derivations.md).",
      footer = {"%nExamples:%n  ferry derive quantize llama:prod --bits 4 --group-size 128 --as llama:q4",
          "  ferry derive quantize llama:prod --bits 8 --symmetric --exclude embed \\",
          "      --as llama-int8:v1"})
  static final class Quantize extends Base {
    @Option(names = "--bits", required = true, paramLabel = "N", description = "8 or 4.")
    int bits;

    @Option(names = "--group-size", paramLabel = "N", description = "Elements per scale along a row (default: 128).")
    int groupSize = 128;

    @Option(names = "--symmetric", description = "Scales only, no zero points.")
    boolean symmetric;

    @Option(names = "--include", paramLabel = "REGEX", description = "Only tensors whose name matches.")
    String include;

    @Option(names = "--exclude", paramLabel = "REGEX", description = "Leave out tensors whose name matches "
        + "(e.g. embed).")
    String exclude;

    @Override
    DeriveSpec derivation() throws IOException {
      return DeriveSpec.Quantize.of(bits, groupSize, symmetric, filter(include, exclude));
    }
  }

  @Command(name = "dequantize", description = "Restore the float tensors of a quantized version; the error against "
      + "the original is measured when this store holds it.",
      footer = {"%nExample:%n  ferry derive dequantize llama:q4 --to bf16 --as llama:q4-back"})
  static final class Dequantize extends Base {
    @Option(names = "--to", paramLabel = "TYPE", description = "bf16, f16 or f32 (default: each tensor's type "
        + "before quantization).")
    String to;

    @Override
    DeriveSpec derivation() throws IOException {
      return new DeriveSpec.Dequantize(to == null ? null : DeriveSpec.floatTarget("to", to));
    }
  }

  @Command(name = "prune", description = "Magnitude pruning of float tensors of 2 or more dimensions (1-D ones, "
      + "biases and norms, are kept): zero every |x| < T, or exactly round(S x n) smallest elements per tensor "
      + "(halves to even; ties: lower index first).",
      footer = {"%nExamples:%n  ferry derive prune llama:prod --sparsity 0.5 --exclude norm --as llama:s50",
          "  ferry derive prune llama:prod --threshold 1e-3 --as llama:t3"})
  static final class Prune extends Base {
    @Option(names = "--threshold", paramLabel = "T", converter = FiniteNumberConverter.class,
        description = "Zero elements with |x| < T (T > 0).")
    Double threshold;

    @Option(names = "--sparsity", paramLabel = "S", converter = FiniteNumberConverter.class,
        description = "Fraction of each tensor to zero, in (0, 1).")
    Double sparsity;

    @Option(names = "--include", paramLabel = "REGEX", description = "Only tensors whose name matches.")
    String include;

    @Option(names = "--exclude", paramLabel = "REGEX", description = "Leave out tensors whose name matches.")
    String exclude;

    @Override
    DeriveSpec derivation() throws IOException {
      return DeriveSpec.Prune.of(threshold, sparsity, filter(include, exclude));
    }
  }
}
