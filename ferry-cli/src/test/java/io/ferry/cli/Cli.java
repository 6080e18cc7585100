package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferry.id.ChunkId;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import picocli.CommandLine;

/** Runs {@code ferry} in-process against one store directory and inspects the store on disk. */
final class Cli {
  static final ObjectMapper JSON = new ObjectMapper();

  /** The outcome of one command. */
  record Result(String[] args, int code, String out, String err) {
    Result ok() {
      assertThat(code).as("exit code of ferry %s%nstdout: %s%nstderr: %s", String.join(" ", args), out, err)
          .isZero();
      return this;
    }

    Result exits(int expected) {
      assertThat(code).as("exit code of ferry %s%nstdout: %s%nstderr: %s", String.join(" ", args), out, err)
          .isEqualTo(expected);
      return this;
    }

    JsonNode json() {
      try {
        return JSON.readTree(out);
      } catch (IOException e) {
        throw new AssertionError("ferry " + String.join(" ", args) + " --json printed no JSON: " + out, e);
      }
    }

    /** The first line of stdout, trimmed. */
    String line() {
      return out.strip().split("\n", 2)[0];
    }

    /** stderr must be exactly one line (an error message) containing every fragment. */
    Result oneLineError(String... fragments) {
      String e = err.strip();
      assertThat(e).as("stderr of ferry %s", String.join(" ", args)).isNotEmpty().doesNotContain("\n")
          .doesNotContain("Exception").doesNotContain("\tat ");
      for (String f : fragments) {
        assertThat(e).as("stderr of ferry %s", String.join(" ", args)).contains(f);
      }
      return this;
    }
  }

  final Path store;

  Cli(Path store) {
    this.store = store;
  }

  /** Runs ferry with {@code --store} appended after the subcommand's arguments. */
  Result run(String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    all.add("--store");
    all.add(store.toString());
    return raw(all.toArray(new String[0]));
  }

  /** Runs ferry with exactly these arguments, its command line built as {@code main} builds it. */
  static Result raw(String... args) {
    CommandLine cmd = FerryCli.commandLineFor(args);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new Result(args, code, out.toString(), err.toString());
  }

  Cli init() {
    run("init").ok();
    return this;
  }

  /** Pushes and returns the new version id (full hex). */
  String push(Path source, String target, String... more) {
    List<String> all = new ArrayList<>(List.of("push", source.toString(), target, "--json"));
    all.addAll(List.of(more));
    JsonNode n = run(all.toArray(new String[0])).ok().json();
    return n.get("version").asText();
  }

  /** Every file and directory under the store, by relative path: a file with the SHA-256 of its content. */
  Map<String, String> state() {
    return state(store);
  }

  static Map<String, String> state(Path root) {
    Map<String, String> out = new TreeMap<>();
    if (!Files.exists(root)) {
      return out;
    }
    try (Stream<Path> s = Files.walk(root)) {
      s.filter(p -> !p.equals(root)).forEach(p -> {
        try {
          // directories too: a command that fails must not leave even an empty one behind
          out.put(root.relativize(p).toString(), Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)
              ? "directory" : Files.isRegularFile(p) ? ChunkId.of(Files.readAllBytes(p)).hex() : "other");
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  /** Sum of the sizes of every regular file under the store. */
  long bytesOnDisk() {
    return bytesUnder(store);
  }

  /** Sum of the sizes of every regular file under {@code root}. */
  static long bytesUnder(Path root) {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> {
        try {
          return Files.size(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }).sum();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Regular files of a directory tree (relative path to content hash), for byte-identical comparisons. */
  static void assertSameTree(Path expected, Path actual) {
    assertThat(state(actual)).as("files of %s vs %s", actual, expected).isEqualTo(state(expected));
  }

  /** Object files under store/objects. */
  List<Path> objects() throws IOException {
    try (Stream<Path> s = Files.walk(store.resolve("objects"))) {
      return s.filter(Files::isRegularFile).sorted().toList();
    }
  }
}
