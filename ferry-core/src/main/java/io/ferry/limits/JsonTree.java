package io.ferry.limits;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/**
 * Reads a JSON document into Jackson's tree ({@link JsonNode}) straight from the streaming parser, under {@link
 * Limits#READ_CONSTRAINTS}, without an {@code ObjectMapper}: building a mapper loads and initializes several hundred
 * classes (its type factory, date formats and the locale data behind them), about a tenth of a second of a fresh
 * process, which every command that reads a store record would otherwise pay before its first byte of output.
 *
 * <p>Same tree as {@code ObjectMapper.readTree}: integers as the smallest of int, long and big integer nodes, other
 * numbers as doubles, a later duplicate key replacing an earlier one, {@link MissingNode} for a document with no
 * content. Unlike it, content after the document's one value is an error, not ignored.
 *
 * <p>Stateless; thread-safe.
 */
public final class JsonTree {
  private static final JsonFactory FACTORY = Limits.jsonFactory();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private JsonTree() {}

  /** The tree of a whole document. */
  public static JsonNode read(byte[] json) throws IOException {
    return read(json, 0, json.length);
  }

  /** The tree of the document in {@code json[offset, offset + length)}. */
  public static JsonNode read(byte[] json, int offset, int length) throws IOException {
    try (JsonParser p = FACTORY.createParser(json, offset, length)) {
      return read(p);
    }
  }

  /** The tree of a whole document given as text. */
  public static JsonNode read(String json) throws IOException {
    try (JsonParser p = FACTORY.createParser(json)) {
      return read(p);
    }
  }

  /**
   * What is wrong with a document, for a message: the parser's own words and where (line and column), without the
   * note Jackson adds about the source it does not show. Anything else that is not a parse error gives its message.
   */
  public static String problem(IOException e) {
    if (e instanceof com.fasterxml.jackson.core.JsonProcessingException j) {
      com.fasterxml.jackson.core.JsonLocation at = j.getLocation();
      String where = at == null || at.getLineNr() < 1 ? "" : " at line " + at.getLineNr() + ", column "
          + at.getColumnNr();
      return j.getOriginalMessage() + where;
    }
    return String.valueOf(e.getMessage());
  }

  private static JsonNode read(JsonParser p) throws IOException {
    JsonToken first = p.nextToken();
    if (first == null) {
      return MissingNode.getInstance();
    }
    JsonNode root = value(p, first);
    JsonToken after = p.nextToken();
    if (after != null) {
      throw new JsonParseException(p, "content after the end of the JSON document: " + after);
    }
    return root;
  }

  /** The value that starts at {@code t}; nesting is bounded by the parser's constraints (it counts the depth). */
  private static JsonNode value(JsonParser p, JsonToken t) throws IOException {
    switch (t) {
      case START_OBJECT: {
        ObjectNode o = NODES.objectNode();
        for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
          String name = p.currentName();
          o.set(name, value(p, p.nextToken()));
        }
        return o;
      }
      case START_ARRAY: {
        ArrayNode a = NODES.arrayNode();
        for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
          a.add(value(p, e));
        }
        return a;
      }
      case VALUE_STRING:
        return NODES.textNode(p.getText());
      case VALUE_NUMBER_INT:
        switch (p.getNumberType()) {
          case INT:
            return NODES.numberNode(p.getIntValue());
          case LONG:
            return NODES.numberNode(p.getLongValue());
          default:
            return NODES.numberNode(p.getBigIntegerValue());
        }
      case VALUE_NUMBER_FLOAT:
        return NODES.numberNode(p.getDoubleValue());
      case VALUE_TRUE:
        return NODES.booleanNode(true);
      case VALUE_FALSE:
        return NODES.booleanNode(false);
      case VALUE_NULL:
        return NODES.nullNode();
      default:
        throw new JsonParseException(p, "unexpected JSON token " + t);
    }
  }
}
