package io.ferry.cli;

import static io.ferry.cli.Files2.t;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferry.format.DType;
import io.ferry.testkit.ModelGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a user meets every day: decorated logs, suggestions, durations, selective transfers, names, completion. */
class EverydayCliTest {
  @TempDir Path tmp;

  /** A small model directory: a safetensors file and a config whose content follows the seed. */
  private Path model(String name, long seed) throws IOException {
    Path dir = tmp.resolve(name);
    ModelGenerator.writeHfModel(dir, List.of(t("embed", DType.F32, seed, 32, 32), t("head", DType.F32, seed + 1, 16)),
        1 << 20);
    Files.writeString(dir.resolve("config.json"), "{\"seed\": " + seed + "}");
    return dir;
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  @Test
  void countsOfOneAreWrittenInTheSingular() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = Files.createDirectories(tmp.resolve("one"));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"), List.of(t("w", DType.F32, 1, 8, 8)), Map.of());
    cli.push(dir, "one");
    assertThat(cli.run("show", "one").ok().out()).contains(" in 1 file, 1 tensor (");
    assertThat(cli.run("derive", "cast", "one", "--to", "bf16", "--as", "half").ok().err())
        .contains(": 1 tensor changed, 0 kept;");
    assertThat(cli.run("pull", "one", tmp.resolve("pt").toString(), "--as", "torch").ok().out())
        .contains(": 1 file, 1 tensor converted, ");
    assertThat(cli.run("pull", "one", tmp.resolve("pi").toString(), "--include", "*.safetensors").ok().out())
        .contains(", 1 of 1 file, ");
  }

  @Test
  void logMarksWhatTheHeadAndTagsPointAtAndLsCountsTheSameVersions() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    String v1 = cli.push(model("a1", 1), "base:old");
    String v2 = cli.push(model("a2", 2), "base:prod");
    String v3 = cli.push(model("a3", 3), "base:candidate");
    cli.run("tag", "base:candidate", "zeta").ok();

    String[] lines = cli.run("log", "base").ok().out().strip().split("\n");
    assertThat(lines).hasSize(3);
    assertThat(lines[0]).startsWith(v3.substring(0, 12) + " (HEAD, candidate, zeta)  ");
    assertThat(lines[1]).startsWith(v2.substring(0, 12) + " (prod)  ");
    assertThat(lines[2]).startsWith(v1.substring(0, 12) + " (old)  ");
    JsonNode log = cli.run("log", "base:prod", "--json").ok().json();
    assertThat(log).hasSize(2);
    assertThat(texts(log.get(0).get("refs"))).containsExactly("base:prod");
    assertThat(texts(log.get(1).get("refs"))).containsExactly("base:old");
    assertThat(texts(cli.run("log", "base", "--json").ok().json().get(0).get("refs")))
        .containsExactly("base", "base:candidate", "base:zeta");

    // a derived model: its versions are its own, in ls and in log alike
    cli.run("derive", "cast", "base:prod", "--to", "f16", "--as", "half:v1").ok();
    cli.push(model("h2", 9), "half");
    JsonNode ls = cli.run("ls", "--json").ok().json();
    for (JsonNode m : ls) {
      JsonNode ml = cli.run("log", m.get("model").asText(), "--json").ok().json();
      assertThat(m.get("versionCount").asLong()).as("versions of %s", m.get("model")).isEqualTo(ml.size());
    }
    assertThat(ls.get(0).get("model").asText()).isEqualTo("base");
    assertThat(ls.get(0).get("versionCount").asLong()).isEqualTo(3);
    assertThat(ls.get(1).get("model").asText()).isEqualTo("half");
    assertThat(ls.get(1).get("versionCount").asLong()).isEqualTo(2);
    String[] half = cli.run("log", "half").ok().out().strip().split("\n");
    assertThat(half[0]).contains("(HEAD)");
    assertThat(half[1]).contains("(v1)").contains("[cast]");
    assertThat(half[2]).startsWith("(derived from");
  }

  @Test
  void unknownCommandsModelsAndTagsGetSuggestions() throws IOException {
    Cli.Result r = Cli.raw("pusj", "x", "y").exits(FerryCli.USAGE);
    assertThat(r.err()).contains("Did you mean").contains("push");
    // the first line names the unknown command, not picocli's "Unmatched arguments from index 0: 'pusj', 'x', 'y'"
    assertThat(r.err()).startsWith("ferry: 'pusj' is not a ferry command (ferry --help lists them)\n");
    assertThat(Cli.raw("nosuch").exits(FerryCli.USAGE).err()).doesNotContain("Did you mean");
    // an unknown option is named alone (picocli listed the next argument as an unknown option too), with the nearest
    assertThat(Cli.raw("push", "a", "b", "--exlude", "x").exits(FerryCli.USAGE).err()).startsWith(
        "ferry: push has no option '--exlude' (did you mean --exclude?)\nTry 'ferry push --help'.");
    assertThat(Cli.raw("push", "--sotre", "x", "a").exits(FerryCli.USAGE).err()).startsWith(
        "ferry: push has no option '--sotre' (did you mean --store?)\n");
    // a misspelt option is named before a required option it leaves missing (picocli said --to was missing)
    assertThat(Cli.raw("derive", "cast", "m", "--t0", "f16", "--as", "m:x").exits(FerryCli.USAGE).err()).startsWith(
        "ferry: derive cast has no option '--t0' (did you mean --to");
    assertThat(Cli.raw("derive", "cast", "m", "--dtyp", "f16").exits(FerryCli.USAGE).err())
        .startsWith("ferry: derive cast has no option '--dtyp'");
    // an argument more than the command takes is named with what it takes (picocli said "Unmatched argument at index")
    assertThat(Cli.raw("tag", "m", "prod", "abc").exits(FerryCli.USAGE).err()).startsWith(
        "ferry: tag takes REF [TAG]: 'abc' is one too many\nTry 'ferry tag --help'.");
    assertThat(Cli.raw("ls", "m").exits(FerryCli.USAGE).err()).startsWith("ferry: ls takes no arguments: 'm' is one");
    assertThat(Cli.raw("pusj", "--json").exits(FerryCli.USAGE).err().strip())
        .isEqualTo("{\"code\":2,\"kind\":\"usage\",\"message\":\"'pusj' is not a ferry command (ferry --help lists"
            + " them)\"}");
    assertThat(Cli.raw("--store", tmp.resolve("s").toString(), "lgo", "m").exits(FerryCli.USAGE).err())
        .contains("log");

    Cli cli = new Cli(tmp.resolve("store")).init();
    Path a = model("a", 1);
    cli.push(a, "llama:prod");
    cli.push(a, "mistral");
    cli.run("show", "lama").exits(1).oneLineError("no model 'lama' in ", "; did you mean 'llama'?");
    cli.run("log", "lama:prod").exits(1).oneLineError("did you mean 'llama'?");
    cli.run("pull", "lama@abcd", tmp.resolve("o").toString()).exits(1).oneLineError("did you mean 'llama'?");
    cli.run("show", "llama:prd").exits(1).oneLineError("model 'llama' has no tag 'prd'; did you mean 'prod'?");
    cli.run("tag", "-d", "llama:prdo").exits(1).oneLineError("did you mean 'prod'?");
    cli.run("rm", "mistrl").exits(1).oneLineError("no model 'mistrl'", "did you mean 'mistral'?");
    // nothing near: no suggestion
    assertThat(cli.run("show", "gpt-neox").exits(1).err()).doesNotContain("did you mean");

    // SOURCE and TARGET swapped
    Files.createDirectories(tmp.resolve("w"));
    Cli.Result swapped = new Cli(tmp.resolve("store")).run("push", "tiny", a.toString()).exits(1);
    swapped.oneLineError("SOURCE comes first: ferry push " + a + " tiny");
  }

  @Test
  void durationsAsPeopleWriteThem() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    cli.push(model("a", 1), "m");
    cli.push(model("b", 2), "gone");
    cli.run("rm", "gone").ok();
    for (String d : new String[] {"1h", "30m", "7d", "90s", "PT1H", "P7D"}) {
      JsonNode r = cli.run("gc", "--grace", d, "--dry-run", "--json").ok().json();
      assertThat(r.get("deadObjectCount").asLong()).as("dead objects with --grace %s", d).isZero();
    }
    cli.run("gc", "--grace", "250ms", "--dry-run").ok();
    for (String bad : new String[] {"1x", "h", "1.5h", "-1h", "PT", "", "1 h h"}) {
      String err = cli.run("gc", "--grace", bad, "--dry-run").exits(FerryCli.USAGE).err();
      assertThat(err).as("error for --grace '%s'", bad).contains("--grace").contains("90s").contains("PT1H");
    }
    // a grace longer than time has run keeps everything, it does not overflow
    for (String longest : new String[] {"9223372036854775807s", "1000000000000d", "P106751991167300D"}) {
      JsonNode r = cli.run("gc", "--grace", longest, "--json").ok().json();
      assertThat(r.get("deadObjectCount").asLong()).as("dead objects with --grace %s", longest).isZero();
    }
    assertThat(cli.run("gc", "--grace", "0", "--json").ok().json().get("deadObjectCount").asLong()).isPositive();
  }

  private static List<String> files(Cli cli, String ref) {
    List<String> out = new ArrayList<>();
    cli.run("show", ref, "--json").ok().json().get("files").forEach(f -> out.add(f.get("path").asText()));
    return out;
  }

  @Test
  void pushTakesIncludeExcludeAndFerryignoreAndNeverOpensWhatItLeavesOut() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = model("src", 1);
    Files.writeString(src.resolve(".DS_Store"), "finder");
    Files.createDirectories(src.resolve("notes/deep"));
    Files.writeString(src.resolve("notes/a.txt"), "a");
    Files.writeString(src.resolve("notes/deep/b.txt"), "b");
    Files.createDirectories(src.resolve("scratch/run"));
    // a dangling link: a push that looked at it would refuse it
    Files.createSymbolicLink(src.resolve("scratch/run/out.bin"), tmp.resolve("nowhere"));
    Files.createSymbolicLink(src.resolve("weights.bin"), tmp.resolve("nowhere"));
    cli.run("push", src.toString(), "m").exits(1).oneLineError("dangling");

    // what hf download --local-dir leaves beside a model, skipped as .git is
    Files.createDirectories(src.resolve(".cache/huggingface/download"));
    Files.writeString(src.resolve(".cache/huggingface/download/config.json.metadata"), "abc\n");
    Files.writeString(src.resolve(".cache/huggingface/.gitignore"), "*");
    Files.writeString(src.resolve(".cache/other.txt"), "kept");
    Files.writeString(src.resolve(".ferryignore"), "# editor and OS litter\n\n.DS_Store\n*.bin\nscratch/\n");
    cli.push(src, "m");
    assertThat(files(cli, "m")).containsExactly(".cache/other.txt", "config.json", "model-00001-of-00001.safetensors",
        "model.safetensors.index.json", "notes/a.txt", "notes/deep/b.txt", "tokenizer.json");

    cli.push(src, "only-json", "--include", "config.json", "--include", "tokenizer*");
    assertThat(files(cli, "only-json")).containsExactly("config.json", "tokenizer.json");
    cli.push(src, "no-notes", "--exclude", "notes/**", "--exclude", "**/b.txt");
    assertThat(files(cli, "no-notes")).doesNotContain("notes/a.txt", "notes/deep/b.txt").contains("config.json");
    cli.push(src, "top-txt", "--include", "notes/*.txt");
    assertThat(files(cli, "top-txt")).containsExactly("notes/a.txt");
    cli.push(src, "all-txt", "--include", "**/*.txt", "--exclude", "notes/a.txt");
    assertThat(files(cli, "all-txt")).containsExactly(".cache/other.txt", "notes/deep/b.txt");
    cli.run("push", src.toString(), "none", "--include", "*.gguf").exits(1).oneLineError("no files to push",
        "--include '*.gguf'");
    assertThat(cli.run("push", src.toString(), "none", "--include", "").exits(2).err()).contains("--include");
    // a class of characters whose range is reversed was Java's own error, naming neither the glob nor where it was
    Map<String, String> before = cli.state();
    Files.writeString(src.resolve(".ferryignore"), "*.bin\n\n[9-0]*.txt\n");
    cli.run("push", src.toString(), "bad-rule").exits(1).oneLineError(src.resolve(".ferryignore") + " line 3: rule"
        + " '[9-0]*.txt' holds a class of characters that is not one: [9-0]: illegal character range");
    assertThat(cli.state()).isEqualTo(before);
  }

  /**
   * A clone of a Hugging Face repository whose large files Git LFS did not fetch holds pointer files where the weights
   * should be. A push stored them (a .bin as an opaque file of 130 bytes, silently) or refused them with a header
   * length in the exabytes; it now refuses naming the file, its size and what to run, and {@code --opaque} stores a
   * pointer as it is when that is what the user wants.
   */
  @Test
  void gitLfsPointersAreRefusedNamingTheFileAndOpaqueStoresThemAsTheyAre() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = Files.createDirectories(tmp.resolve("clone"));
    Files.writeString(src.resolve("config.json"), "{}");
    String pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:"
        + "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 4943162336\n";
    Files.writeString(src.resolve("pytorch_model.bin"), pointer);
    Map<String, String> before = cli.state();
    cli.run("push", src.toString(), "m").exits(1).oneLineError("pytorch_model.bin: a Git LFS pointer (to 4943162336"
        + " bytes, oid sha256:4d7a214614ab...), not the file itself", "git lfs pull", "--opaque 'pytorch_model.bin'");
    Files.delete(src.resolve("pytorch_model.bin"));
    Files.writeString(src.resolve("model.safetensors"), pointer);
    cli.run("push", src.toString(), "m").exits(1).oneLineError("model.safetensors: a Git LFS pointer");
    assertThat(cli.state()).isEqualTo(before);
    // a pointer-like file that is not one (no oid) is an ordinary file
    Files.writeString(src.resolve("notes.txt"), "version https://git-lfs.github.com/spec/v1\nsize 3\n");
    cli.push(src, "m", "--opaque", "*.safetensors");
    assertThat(files(cli, "m")).containsExactly("config.json", "model.safetensors", "notes.txt");

    // a shard of a Hugging Face index named with --opaque: the index cannot be checked, and the refusal says why
    Path sharded = model("sharded", 1);
    cli.run("push", sharded.toString(), "s", "--opaque", "model-00001-of-00001.safetensors").exits(1)
        .oneLineError("model.safetensors.index.json: shard 'model-00001-of-00001.safetensors' is listed in weight_map"
            + " but is stored unread (--opaque)", "leave the shards out of --opaque");
  }

  /**
   * A glob matches whole paths, so one naming a directory selects nothing: the error says which glob is a directory
   * and the glob that selects its files (it said only that nothing was selected).
   */
  @Test
  void anIncludeThatNamesADirectoryIsToldHowToSelectItsFiles() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = model("src", 1);
    Files.createDirectories(src.resolve("vocabs"));
    Files.writeString(src.resolve("vocabs/vocab.json"), "{}");
    cli.push(src, "m:v1");
    Path out = tmp.resolve("out");
    cli.run("pull", "m:v1", out.toString(), "--include", "vocabs/").exits(1)
        .oneLineError("has no file that --include 'vocabs/' selects; 'vocabs/' is a directory: --include"
            + " 'vocabs/**' selects the files under it");
    cli.run("pull", "m:v1", out.toString(), "--include", "voc*", "--include", "*.gguf").exits(1)
        .oneLineError("; 'voc*' is a directory: --include 'voc*/**' selects the files under it; ferry show");
    assertThat(out).doesNotExist();
    cli.run("pull", "m:v1", out.toString(), "--include", "vocabs/**").ok();
    assertThat(Cli.state(out).keySet()).containsExactly("vocabs", "vocabs/vocab.json");
  }

  @Test
  void aSelectivePullWritesOnlyTheSelectedFilesAndNeverRemovesOthers() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = model("src", 1);
    cli.push(src, "m:v1");
    Path out = tmp.resolve("out");
    Files.createDirectories(out);
    Files.writeString(out.resolve("mine.txt"), "user's own");

    String said = cli.run("pull", "m:v1", out.toString(), "--include", "*.json", "--exclude", "model.*").ok().out();
    assertThat(Cli.state(out).keySet()).containsExactlyInAnyOrder("mine.txt", "config.json", "tokenizer.json");
    long selected = Files.size(src.resolve("config.json")) + Files.size(src.resolve("tokenizer.json"));
    assertThat(said).as("what a selective pull wrote, of the whole").contains(", 2 of ")
        .contains(" files, " + Format.bytes(selected) + " of ");
    assertThat(out.resolve("config.json")).hasSameTextualContentAs(src.resolve("config.json"));

    // a selected file that differs stops the pull unless --force or --merge; --force removes nothing else
    Files.writeString(out.resolve("config.json"), "{}");
    cli.run("pull", "m:v1", out.toString(), "--include", "config.json").exits(1).oneLineError("config.json");
    cli.run("pull", "m:v1", out.toString(), "--include", "config.json", "--force").ok();
    assertThat(Cli.state(out).keySet()).containsExactlyInAnyOrder("mine.txt", "config.json", "tokenizer.json");
    assertThat(out.resolve("config.json")).hasSameTextualContentAs(src.resolve("config.json"));

    cli.run("pull", "m:v1", out.toString(), "--include", "**/*.gguf").exits(1)
        .oneLineError("has no file that --include '**/*.gguf' selects");
    // then the whole version: the files already there are identical, mine.txt is still refused
    cli.run("pull", "m:v1", out.toString()).exits(1).oneLineError("mine.txt");
  }

  @Test
  void huggingFaceRepoIdsAreModelNamesAsTheyAre() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path src = model("src", 1);
    String hf = "meta-llama/Llama-3.1-8B";
    String v1 = cli.push(src, hf + ":prod");
    cli.push(model("other", 2), "meta-llama");
    JsonNode ls = cli.run("ls", "--json").ok().json();
    assertThat(ls).hasSize(2);
    assertThat(ls.get(0).get("model").asText()).isEqualTo("meta-llama");
    assertThat(ls.get(1).get("model").asText()).isEqualTo(hf);
    assertThat(ls.get(1).get("tags").get("prod").asText()).isEqualTo(v1);
    assertThat(cli.run("show", hf + "@" + v1.substring(0, 8), "--json").ok().json().get("model").asText())
        .isEqualTo(hf);
    assertThat(texts(cli.run("log", hf, "--json").ok().json().get(0).get("refs"))).containsExactly(hf, hf + ":prod");
    Path out = tmp.resolve("out");
    cli.run("pull", hf + ":prod//config.json", out.toString()).ok();
    assertThat(out.resolve("config.json")).hasSameTextualContentAs(src.resolve("config.json"));

    // names compare exactly; one that differs only in case is suggested, and cannot be started beside it
    cli.run("show", "meta-llama/llama-3.1-8b").exits(1)
        .oneLineError("no model 'meta-llama/llama-3.1-8b'", "did you mean '" + hf + "'?");
    cli.run("push", src.toString(), "meta-llama/llama-3.1-8B").exits(1)
        .oneLineError("differs only in case from '" + hf + "'");
    cli.run("push", src.toString(), "meta-llama/Llama/x").exits(1).oneLineError("more than one '/'");
    // a refused name says what is wrong with it: a user cannot see that a name is 129 characters, or an accent
    cli.run("push", src.toString(), "m".repeat(129)).exits(1).oneLineError("it is 129 characters, more than 128");
    cli.run("push", src.toString(), "mod\u00e8le").exits(1).oneLineError("it has '\u00e8' U+00E8 at character 4");
    cli.run("push", src.toString(), "m:" + "t".repeat(300)).exits(1)
        .oneLineError("tag name", "it is 300 characters, more than 128");
    cli.run("push", src.toString(), "m:-x").exits(1).oneLineError("it starts with '-' U+002D");
    assertThat(cli.run("ls", "--json").ok().json()).hasSize(2);
  }

  @Test
  void completionPrintsABashScriptWithEverySubcommand() {
    String script = Cli.raw("completion", "bash").ok().out();
    assertThat(script).contains("complete -F").contains("_picocli_ferry");
    for (String sub : new String[] {"push", "pull", "log", "gc", "rm", "reflog", "derive", "completion"}) {
      assertThat(script).as("completion of %s", sub).contains(sub);
    }
    assertThat(script).contains("--include").contains("--grace").contains("--max-count");
    assertThat(Cli.raw("completion", "zsh").ok().out()).contains("bashcompinit").contains("complete -F");
    Cli.raw("completion", "tcsh").exits(FerryCli.USAGE);
  }

  /** The fish script, run by a real fish: what it offers after each prefix a user types. */
  @Test
  void completionForFishOffersSubcommandsAndOptionsOfTheCommandTyped() throws Exception {
    Path script = Files.writeString(tmp.resolve("ferry.fish"), Cli.raw("completion", "fish").ok().out());
    boolean ci = "true".equalsIgnoreCase(System.getenv("CI"));
    boolean installed = java.util.stream.Stream.of(System.getenv("PATH").split(java.io.File.pathSeparator))
        .anyMatch(d -> Files.isExecutable(Path.of(d, "fish")));
    if (!installed && ci) {
      throw new AssertionError("fish is not installed: CI must install it (.ci/run)");
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(installed, "fish is not installed");
    assertThat(fish(script, "ferry pu")).containsExactly("pull", "push");
    assertThat(fish(script, "ferry derive q")).containsExactly("quantize");
    assertThat(fish(script, "ferry --store /s derive quantize m:t --bi")).containsExactly("--bits");
    assertThat(fish(script, "ferry token ")).contains("create", "list", "ls", "revoke").hasSize(4);
    assertThat(fish(script, "ferry token ls --tokens")).containsExactly("--tokens");
    assertThat(fish(script, "ferry checkpoint p")).containsExactly("pull", "push");
    // an operand that names a command elsewhere does not move the completion there
    assertThat(fish(script, "ferry pull push --merg")).containsExactly("--merge");
    // option names of one command are not offered for another
    assertThat(fish(script, "ferry ls --merg")).isEmpty();
  }

  /** The candidates fish offers for {@code line} (without their descriptions). */
  private List<String> fish(Path script, String line) throws Exception {
    Process p = new ProcessBuilder("fish", "--no-config", "-c", "source " + script + "; complete -C '" + line + "'")
        .directory(tmp.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as("fish: %s", out).isZero();
    List<String> words = new ArrayList<>();
    for (String l : out.split("\n")) {
      if (!l.isEmpty()) {
        words.add(l.split("\t", 2)[0]);
      }
    }
    return words;
  }
  /** show's type column widens for a file with a longer type name (F8_E4M3FNUZ), so that its shapes line up. */
  @Test
  void showAlignsTheShapesOfAFileWithLongTypeNames() throws IOException {
    Cli cli = new Cli(tmp.resolve("store")).init();
    Path dir = Files.createDirectories(tmp.resolve("fp8"));
    ModelGenerator.writeSafetensors(dir.resolve("model.safetensors"),
        List.of(t("a", DType.F32, 1, 4, 4), t("b", DType.F8_E4M3FNUZ, 2, 8), t("c", DType.F8_E5M2FNUZ, 3, 2, 2)),
        Map.of());
    cli.push(dir, "fp8");
    List<Integer> at = cli.run("show", "fp8").ok().out().lines().filter(l -> l.startsWith("  ") && l.contains("["))
        .map(l -> l.indexOf('[')).toList();
    assertThat(at).hasSize(3).containsOnly(at.get(0));
  }
}
