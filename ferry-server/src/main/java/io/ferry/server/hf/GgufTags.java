package io.ferry.server.hf;

import io.ferry.version.FileEntry;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which GGUF file of a version a quantization tag names, as the Hub chooses one for llama.cpp's {@code -hf
 * user/model:Q8_0} and node-llama-cpp's {@code hf:user/model:Q8_0}: the tag is the file's name ({@code
 * tiny-Q8_0.gguf}, with or without its directory) or its quantization ({@code Q8_0}, any case), found in the path
 * between a {@code -}, {@code .} or {@code /} (or the start) and a {@code -} or {@code .}; {@code latest} is {@code
 * Q4_K_M}, else {@code Q8_0}, else the first model file. Only model files count: not projectors ({@code mmproj}) or
 * importance matrices ({@code imatrix}), and of a split model only its first split ({@code -00001-of-00003.gguf}),
 * which names the others. Files are taken in path order.
 */
final class GgufTags {
  private static final Pattern SPLIT = Pattern.compile("-(\\d{5})-of-\\d{5}\\.gguf$", Pattern.CASE_INSENSITIVE);
  private static final List<String> LATEST = List.of("Q4_K_M", "Q8_0");

  private GgufTags() {}

  /** The model file {@code tag} names among {@code files} (sorted by path), if any. */
  static Optional<FileEntry> model(List<FileEntry> files, String tag) {
    List<FileEntry> models = files.stream().filter(GgufTags::isModel).toList();
    if (tag.equalsIgnoreCase("latest")) {
      for (String quant : LATEST) {
        Optional<FileEntry> f = byQuantization(models, quant);
        if (f.isPresent()) {
          return f;
        }
      }
      return models.stream().findFirst();
    }
    Optional<FileEntry> named = models.stream()
        .filter(f -> f.path().equalsIgnoreCase(tag) || baseName(f.path()).equalsIgnoreCase(tag)).findFirst();
    return named.isPresent() ? named : byQuantization(models, tag);
  }

  /** The projector of a multimodal model: the first in {@code model}'s directory, else the first of all. */
  static Optional<FileEntry> projector(List<FileEntry> files, FileEntry model) {
    List<FileEntry> projectors = files.stream().filter(f -> isGguf(f) && lower(baseName(f.path())).contains("mmproj"))
        .toList();
    String dir = model.path().substring(0, model.path().lastIndexOf('/') + 1);
    return projectors.stream().filter(f -> f.path().lastIndexOf('/') + 1 == dir.length() && f.path().startsWith(dir))
        .findFirst().or(() -> projectors.stream().findFirst());
  }

  /** Whether a version has any GGUF file. */
  static boolean anyGguf(List<FileEntry> files) {
    return files.stream().anyMatch(GgufTags::isGguf);
  }

  private static Optional<FileEntry> byQuantization(List<FileEntry> models, String quant) {
    Pattern p = Pattern.compile("(^|[-./])" + Pattern.quote(quant) + "[-.]", Pattern.CASE_INSENSITIVE);
    return models.stream().filter(f -> p.matcher(f.path()).find()).findFirst();
  }

  private static boolean isModel(FileEntry f) {
    String name = lower(baseName(f.path()));
    Matcher split = SPLIT.matcher(name);
    return isGguf(f) && !name.contains("mmproj") && !name.contains("imatrix")
        && (!split.find() || Integer.parseInt(split.group(1)) == 1);
  }

  private static boolean isGguf(FileEntry f) {
    return lower(f.path()).endsWith(".gguf");
  }

  private static String baseName(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  private static String lower(String s) {
    return s.toLowerCase(Locale.ROOT);
  }
}
