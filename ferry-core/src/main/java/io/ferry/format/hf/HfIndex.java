package io.ferry.format.hf;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ferry.error.InvalidInputException;
import io.ferry.format.TensorInfo;
import io.ferry.format.safetensors.SafetensorsHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The index of a sharded Hugging Face safetensors checkpoint, {@code model.safetensors.index.json}:
 * {@code {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}}. Immutable.
 *
 * <p>Shard names are relative paths inside the model directory. They are checked when the index is read and when the
 * record is built: not empty, not absolute (no leading {@code /}, no drive letter), no backslash, no NUL, no
 * {@code ..} segment, and normalized (no empty or {@code .} segment).
 *
 * @param fileName the name used in error messages (usually {@code model.safetensors.index.json})
 * @param metadata the {@code metadata} object (for example {@code total_size}), empty if absent; values are JSON
 *     values as plain Java objects: String, Long or BigInteger, Double, Boolean, null, and unmodifiable List and Map
 * @param weightMap tensor name to shard name, in file order
 */
public record HfIndex(String fileName, Map<String, Object> metadata, Map<String, String> weightMap) {
  /** The file name of the index in a model directory. */
  public static final String FILE_NAME = "model.safetensors.index.json";
  /** How the name of every safetensors index ends ({@code diffusion_pytorch_model.safetensors.index.json} too). */
  public static final String SUFFIX = ".safetensors.index.json";

  /** Index files above this size are refused, so reading one cannot exhaust the heap. */
  static final long MAX_INDEX_LENGTH = 100_000_000L;

  private static final int MAX_REPORTED = 10;
  private static final Pattern DRIVE = Pattern.compile("^[A-Za-z]:.*", Pattern.DOTALL);
  /** How Hugging Face numbers shards: {@code model-00001-of-00004.safetensors}. */
  private static final Pattern SHARD_NUMBER = Pattern.compile(".*-\\d+-of-\\d+\\.safetensors", Pattern.DOTALL);
  private static final ObjectMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
      .build();

  /**
   * Copies the maps (order kept) and checks the shard names.
   *
   * @throws NullPointerException if an argument, a metadata key, or a weight map key or value is null
   * @throws IllegalArgumentException if a shard name is not a safe relative path (see the class comment)
   */
  public HfIndex {
    Objects.requireNonNull(fileName, "fileName");
    Map<String, Object> meta = new LinkedHashMap<>();
    Objects.requireNonNull(metadata, "metadata").forEach((k, v) -> meta.put(Objects.requireNonNull(k), v));
    metadata = Collections.unmodifiableMap(meta);
    Map<String, String> map = new LinkedHashMap<>();
    Objects.requireNonNull(weightMap, "weightMap").forEach((tensor, shard) -> {
      Objects.requireNonNull(tensor, "tensor name");
      Objects.requireNonNull(shard, "shard name");
      String problem = shardNameProblem(shard);
      if (problem != null) {
        throw new IllegalArgumentException(
            fileName + ": tensor '" + tensor + "' maps to shard '" + printable(shard) + "', which " + problem);
      }
      map.put(tensor, shard);
    });
    weightMap = Collections.unmodifiableMap(map);
  }

  /**
   * Reads and checks an index file: strict UTF-8 (no byte order mark), one JSON object, no duplicate keys,
   * {@code weight_map} present and an object of strings, {@code metadata} absent, null or an object, shard names safe.
   *
   * @throws InvalidInputException naming the file and the defect, if any of the above fails or the file is larger
   *     than 100 MB
   * @throws IOException if the file cannot be read
   */
  public static HfIndex read(Path indexFile) throws IOException {
    try (FileChannel ch = FileChannel.open(indexFile, StandardOpenOption.READ)) {
      return read(String.valueOf(indexFile.getFileName()), ch);
    }
  }

  /**
   * Reads and checks an index from an open channel, as {@link #read(Path)} does, with positional reads (the channel's
   * position is left alone and the channel is not closed).
   *
   * @param name the name to put in errors and in the result
   */
  public static HfIndex read(String name, FileChannel ch) throws IOException {
    String text;
    try {
      long size = ch.size();
      if (size > MAX_INDEX_LENGTH) {
        throw new InvalidInputException(
            name + ": index is " + size + " bytes, above the limit of " + MAX_INDEX_LENGTH + " bytes");
      }
      ByteBuffer buf = ByteBuffer.allocate((int) size);
      while (buf.hasRemaining() && ch.read(buf, buf.position()) >= 0) {
        // positional reads until full or end of file
      }
      buf.flip();
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(buf)
          .toString();
    } catch (CharacterCodingException e) {
      throw new InvalidInputException(name + ": index is not valid UTF-8", e);
    }
    JsonNode root;
    try {
      root = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new InvalidInputException(name + ": index is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || root.isMissingNode() || !root.isObject()) {
      throw new InvalidInputException(name + ": index is not a JSON object");
    }
    JsonNode wm = root.get("weight_map");
    if (wm == null) {
      throw new InvalidInputException(name + ": index has no 'weight_map'");
    }
    if (!wm.isObject()) {
      throw new InvalidInputException(name + ": 'weight_map' is not an object (found " + wm.getNodeType() + ")");
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw new InvalidInputException(name + ": 'weight_map' entry for tensor '" + e.getKey()
            + "' is not a string (found " + e.getValue().getNodeType() + ")");
      }
      String shard = e.getValue().textValue();
      String problem = shardNameProblem(shard);
      if (problem != null) {
        throw new InvalidInputException(name + ": tensor '" + e.getKey() + "' maps to shard '" + printable(shard)
            + "', which " + problem);
      }
      weightMap.put(e.getKey(), shard);
    }
    JsonNode meta = root.get("metadata");
    Map<String, Object> metadata = new LinkedHashMap<>();
    if (meta != null && !meta.isNull()) {
      if (!meta.isObject()) {
        throw new InvalidInputException(name + ": 'metadata' is not an object (found " + meta.getNodeType() + ")");
      }
      meta.fields().forEachRemaining(e -> metadata.put(e.getKey(), plain(e.getValue())));
    }
    return new HfIndex(name, metadata, weightMap);
  }

  /**
   * Rewrites an index for a model whose shards hold other tensors than the source's (a derived model: same shard
   * files, tensors changed, added or removed). Each {@code weight_map} entry whose tensor {@code replacements} names
   * is replaced, where it stands, by one entry per listed tensor, mapped to the same shard (an empty list removes the
   * entry); other entries and every other key stay as they are. {@code metadata.total_size}, where present, becomes
   * the sum of the byte lengths of the listed tensors: list every tensor of the weight map (a tensor kept as it is
   * replaces itself). Written as indented JSON ending with a newline; the same input gives the same bytes. An index
   * that is not a JSON object with a {@code weight_map} object is returned as it is.
   *
   * @param fileName the index's name, for messages
   * @param index the index file's bytes
   * @param replacements source tensor name to the tensors that replace it (their names and byte lengths are used)
   * @throws InvalidInputException naming the file if {@code index} is not valid JSON (as {@link #read} parses it)
   */
  public static byte[] rewrite(String fileName, byte[] index, Map<String, List<TensorInfo>> replacements)
      throws InvalidInputException {
    JsonNode root;
    try {
      root = JSON.readTree(index);
    } catch (JsonProcessingException e) {
      throw new InvalidInputException(fileName + ": index is not valid JSON: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new InvalidInputException(fileName + ": index is not valid JSON: " + e.getMessage(), e);
    }
    if (!(root instanceof ObjectNode obj) || !root.path("weight_map").isObject()) {
      return index.clone();
    }
    ObjectNode weights = JSON.createObjectNode();
    long total = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = root.path("weight_map").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      List<TensorInfo> by = replacements.get(e.getKey());
      if (by == null) {
        weights.set(e.getKey(), e.getValue());
        continue;
      }
      for (TensorInfo t : by) {
        weights.set(t.name(), e.getValue());
        total += t.byteLength();
      }
    }
    obj.set("weight_map", weights);
    if (obj.path("metadata").has("total_size")) {
      ((ObjectNode) obj.get("metadata")).put("total_size", total);
    }
    try {
      return (JSON.writer().with(SerializationFeature.INDENT_OUTPUT).writeValueAsString(obj) + "\n")
          .getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(fileName + ": a parsed JSON tree could not be written back", e);
    }
  }

  /** The distinct shard names in the weight map, sorted; unmodifiable. */
  public SortedSet<String> shards() {
    return Collections.unmodifiableSortedSet(new TreeSet<>(weightMap.values()));
  }

  /**
   * Checks the index against the shards' parsed headers and the safetensors files of the directory. Every problem
   * found is reported, in this order, in one exception whose message starts with {@code fileName + ": "} (at most
   * ten are spelled out, then a count):
   * <ul>
   *   <li>a shard listed in the weight map with no entry (or a null entry) in {@code shardsByName}: "shard 'x' is
   *       listed in weight_map but missing";
   *   <li>a file of {@code safetensorsFilesPresent} not listed: "shard 'x' is in the directory but not in
   *       weight_map", unless it is a checkpoint of its own: a name not numbered like a shard ({@code -00001-of-00002}),
   *       a header in {@code shardsByName}, and none of its tensors in the weight map (such a file is left out of
   *       every check below);
   *   <li>a tensor in two shards;
   *   <li>a tensor of the weight map not in its shard (and where it is instead, if anywhere);
   *   <li>a tensor of a shard that the weight map does not list.
   * </ul>
   *
   * @param shardsByName shard relative path (as in the weight map) to its parsed header; a shard whose file was not
   *     found is left out
   * @param safetensorsFilesPresent relative paths of the {@code *.safetensors} files found in the model directory
   * @throws InvalidInputException if the index and the shards disagree in any way listed above
   */
  public void check(Map<String, SafetensorsHeader> shardsByName, Collection<String> safetensorsFilesPresent)
      throws InvalidInputException {
    check(shardsByName, safetensorsFilesPresent, shard -> "missing");
  }

  /**
   * As {@link #check(Map, Collection)}, saying of each listed shard not in {@code shardsByName} what {@code
   * whyMissing} says instead of "missing" ("not a safetensors file", "left out by --include '*.json'").
   */
  public void check(Map<String, SafetensorsHeader> shardsByName, Collection<String> safetensorsFilesPresent,
      java.util.function.Function<String, String> whyMissing) throws InvalidInputException {
    Objects.requireNonNull(shardsByName, "shardsByName");
    Objects.requireNonNull(safetensorsFilesPresent, "safetensorsFilesPresent");
    SortedSet<String> listed = shards();
    Set<String> standalone = standalone(shardsByName, safetensorsFilesPresent, listed);
    shardsByName = new HashMap<>(shardsByName);
    shardsByName.keySet().removeAll(standalone);
    safetensorsFilesPresent = new ArrayList<>(safetensorsFilesPresent);
    safetensorsFilesPresent.removeAll(standalone);
    List<String> problems = new ArrayList<>();
    for (String shard : listed) {
      if (shardsByName.get(shard) == null) {
        problems.add("shard '" + shard + "' is listed in weight_map but " + whyMissing.apply(shard));
      }
    }
    for (String file : new TreeSet<>(safetensorsFilesPresent)) {
      if (!listed.contains(file)) {
        problems.add("shard '" + file + "' is in the directory but not in weight_map");
      }
    }
    // tensor name -> shards holding it, both in a stable order
    Map<String, List<String>> holders = new TreeMap<>();
    for (Map.Entry<String, SafetensorsHeader> e : new TreeMap<>(shardsByName).entrySet()) {
      if (e.getValue() == null) {
        continue;
      }
      for (TensorInfo t : e.getValue().tensors()) {
        holders.computeIfAbsent(t.name(), k -> new ArrayList<>()).add(e.getKey());
      }
    }
    for (Map.Entry<String, List<String>> e : holders.entrySet()) {
      if (e.getValue().size() > 1) {
        problems.add("tensor '" + e.getKey() + "' is in more than one shard: " + quoted(e.getValue()));
      }
    }
    for (Map.Entry<String, String> e : weightMap.entrySet()) {
      String shard = e.getValue();
      if (shardsByName.get(shard) == null) {
        continue; // reported as a missing shard
      }
      List<String> in = holders.getOrDefault(e.getKey(), List.of());
      if (!in.contains(shard)) {
        problems.add("tensor '" + e.getKey() + "' is listed in weight_map for shard '" + shard + "' but is not in it"
            + (in.isEmpty() ? "" : " (it is in " + quoted(in) + ")"));
      }
    }
    for (Map.Entry<String, List<String>> e : holders.entrySet()) {
      if (!weightMap.containsKey(e.getKey())) {
        problems.add("tensor '" + e.getKey() + "' of shard " + quoted(e.getValue()) + " is not in weight_map");
      }
    }
    if (!problems.isEmpty()) {
      StringBuilder msg = new StringBuilder(fileName).append(": ");
      msg.append(String.join("; ", problems.subList(0, Math.min(MAX_REPORTED, problems.size()))));
      if (problems.size() > MAX_REPORTED) {
        msg.append("; and ").append(problems.size() - MAX_REPORTED).append(" more problems");
      }
      throw new InvalidInputException(msg.toString());
    }
  }

  /**
   * The unlisted files of the directory that are checkpoints of their own, not shards the index forgot: a name not
   * numbered like a shard ({@code -00001-of-00002}), a header known, and no tensor the weight map names (Mistral's
   * repositories keep {@code consolidated.safetensors} next to the sharded model; transformers reads the index and
   * ignores it).
   */
  private Set<String> standalone(Map<String, SafetensorsHeader> shardsByName, Collection<String> present,
      Set<String> listed) {
    Set<String> result = new HashSet<>();
    for (String file : present) {
      SafetensorsHeader h = shardsByName.get(file);
      if (listed.contains(file) || h == null || SHARD_NUMBER.matcher(file).matches()) {
        continue;
      }
      if (h.tensors().stream().noneMatch(t -> weightMap.containsKey(t.name()))) {
        result.add(file);
      }
    }
    return result;
  }

  /** Why a shard name is unsafe, or null if it is a normalized relative path. */
  static String shardNameProblem(String shard) {
    if (shard.isEmpty()) {
      return "is empty";
    }
    if (shard.indexOf('\0') >= 0) {
      return "contains a NUL character";
    }
    if (shard.indexOf('\\') >= 0) {
      return "contains a backslash";
    }
    if (shard.startsWith("/")) {
      return "is an absolute path";
    }
    if (DRIVE.matcher(shard).matches()) {
      return "starts with a drive letter";
    }
    for (String segment : shard.split("/", -1)) {
      if (segment.equals("..")) {
        return "contains '..'";
      }
      if (segment.isEmpty() || segment.equals(".")) {
        return "is not a normalized relative path (empty or '.' segment)";
      }
    }
    return null;
  }

  private static String quoted(List<String> names) {
    StringBuilder b = new StringBuilder();
    for (String n : names) {
      b.append(b.length() == 0 ? "" : ", ").append('\'').append(n).append('\'');
    }
    return b.toString();
  }

  private static String printable(String s) {
    return s.replace("\0", "\\0");
  }

  private static Object plain(JsonNode n) {
    if (n.isObject()) {
      Map<String, Object> m = new LinkedHashMap<>();
      n.fields().forEachRemaining(e -> m.put(e.getKey(), plain(e.getValue())));
      return Collections.unmodifiableMap(m);
    }
    if (n.isArray()) {
      List<Object> l = new ArrayList<>();
      n.forEach(x -> l.add(plain(x)));
      return Collections.unmodifiableList(l);
    }
    if (n.isTextual()) {
      return n.textValue();
    }
    if (n.isBoolean()) {
      return n.booleanValue();
    }
    if (n.isIntegralNumber()) {
      return n.canConvertToLong() ? (Object) n.longValue() : n.bigIntegerValue();
    }
    if (n.isNumber()) {
      return n.doubleValue();
    }
    return null;
  }
}
