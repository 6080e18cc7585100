package io.ferry.format.safetensors;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.TensorInfo;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and completely validates the header of a safetensors file, rejecting what the reference implementation
 * ({@code huggingface/safetensors}, {@code SafeTensors::read_metadata} and {@code Metadata::validate}) rejects. The
 * data section is never read; the header is read twice (a UTF-8 pass, then a streaming JSON pass) through a small
 * buffer, so memory stays bounded by the parsed tensor table even for a 100 MB header.
 *
 * <p>Rules, each reported as an {@link InvalidInputException} whose message starts with the file name and
 * {@code ": "} (reference error in parentheses):
 * <ol>
 *   <li>the file is shorter than 8 bytes ({@code HeaderTooSmall});
 *   <li>the header length N, an unsigned little-endian 64-bit integer, is above 100,000,000 ({@code HeaderTooLarge});
 *   <li>8 + N is past the end of the file ({@code InvalidHeaderLength});
 *   <li>the header is not valid UTF-8 (strict: overlong forms, encoded surrogates, truncated sequences are
 *       rejected) ({@code InvalidHeader});
 *   <li>the header is not one JSON value, or that value is not an object; JSON whitespace (space, tab, CR, LF) may
 *       surround it, as writers pad headers with spaces ({@code InvalidHeaderDeserialization});
 *   <li>{@code __metadata__} is not an object of string values ({@code null} is accepted as absent, as serde does);
 *   <li>a tensor entry is not an object, lacks {@code dtype}, {@code shape} or {@code data_offsets}, or has one of the
 *       wrong type; {@code data_offsets} must be exactly two non-negative integers and shape dimensions
 *       non-negative integers; unknown extra keys in an entry are ignored, as the reference does;
 *   <li>the dtype is not one of {@link DType} spelled exactly;
 *   <li>the element count (product of the shape, folded left to right) or the bit count (elements × bits) overflows
 *       ({@code ValidationOverflow});
 *   <li>the bit count is not a multiple of 8 (sub-byte types, {@code MisalignedSlice});
 *   <li>{@code end - begin} differs from the byte count ({@code TensorInvalidInfo});
 *   <li>the offsets are reversed; tensors sorted by offset do not start at 0 or leave a gap or overlap
 *       ({@code InvalidOffset});
 *   <li>a tensor ends past the end of the file, or the tensors do not cover the data up to the last byte of the
 *       file: trailing bytes, which would make polyglot files, are refused ({@code MetadataIncompleteBuffer}).
 * </ol>
 *
 * <p>Stricter than the reference, deliberately: duplicate tensor names and duplicate {@code __metadata__} keys are
 * rejected (serde keeps the last tensor or metadata value of a given name silently, so two parsers could see
 * different tensors; it rejects only a repeated {@code __metadata__}, {@code dtype}, {@code shape} or
 * {@code data_offsets}, as Ferry does). Unknown keys of an entry are skipped, repeated or not, as serde skips them,
 * but their values are checked as serde_json checks what it skips: a number that is infinite as a 64-bit float
 * ({@code 1e999}) and an unpaired surrogate escape are refused there too. Strings containing an
 * unpaired surrogate escape are rejected everywhere (serde_json rejects them; Jackson would accept); {@code -0} in a
 * shape or {@code data_offsets} is rejected (serde_json reads it as the float {@code -0.0});
 * integers above {@link Long#MAX_VALUE} are rejected even where the reference, with 64-bit unsigned arithmetic,
 * would accept them next to a zero dimension. Nesting deeper than 127 levels is rejected, like serde_json's
 * recursion limit.
 *
 * <p>Thread-safe: the class holds no mutable state. The channel's position is not used or changed.
 */
public final class SafetensorsReader {
  /** The largest header the reference implementation accepts, in bytes. */
  static final long MAX_HEADER_LENGTH = 100_000_000L;

  private static final int BUFFER_SIZE = 64 * 1024;
  private static final String METADATA_KEY = "__metadata__";
  /** The keys of a tensor entry; others are skipped, and may repeat, as serde skips unknown fields. */
  private static final Set<String> KNOWN_KEYS = Set.of("dtype", "shape", "data_offsets");

  /** Longest name the header parser reads: past it, it stops before holding the name ({@link #JSON}). */
  private static final int MAX_PARSED_NAME = 1 << 20;
  /**
   * Longest string the header parser reads: twice the longest metadata value a push keeps (16 Mi characters); also
   * the longest number (serde_json reads a number of any length, refusing it only when it is infinite as a float).
   */
  private static final int MAX_PARSED_STRING = 32 << 20;

  /**
   * Names in the header (tensor names, metadata keys) and strings (metadata values) far longer than Ferry keeps (a
   * push's limits: 4,096 characters for a tensor name, 16 Mi for a metadata value) stop the parser as it reads them,
   * so memory is bounded by those, not by the header (a 90-million-character name ran the heap out); those only
   * somewhat too long are read, and refused by the push's limits, which name them.
   */
  private static final JsonFactory JSON = JsonFactory.builder()
      .disable(StreamReadFeature.AUTO_CLOSE_SOURCE)
      .streamReadConstraints(StreamReadConstraints.builder()
          .maxStringLength(MAX_PARSED_STRING)
          .maxNameLength(MAX_PARSED_NAME)
          .maxNestingDepth(127)
          .maxNumberLength(MAX_PARSED_STRING)
          .build())
      .build();

  private SafetensorsReader() {}

  /**
   * Reads and validates the header of a safetensors file; the name in errors and in the result is
   * {@code file.getFileName()}.
   *
   * @throws InvalidInputException if the file breaks a rule of the format (see the class comment)
   * @throws IOException if the file cannot be opened or read
   */
  public static SafetensorsHeader read(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      return read(String.valueOf(file.getFileName()), ch);
    }
  }

  /**
   * Reads and validates the header of a safetensors file from an open channel, using positional reads only (the
   * channel's position is left alone and the channel is not closed).
   *
   * @param fileName the name to put in errors and in the result
   * @throws InvalidInputException if the file breaks a rule of the format (see the class comment); the message starts
   *     with {@code fileName + ": "} and names the tensor and offsets where relevant
   * @throws IOException if the channel cannot be read
   */
  public static SafetensorsHeader read(String fileName, FileChannel channel) throws IOException {
    return new Parse(fileName, channel).run();
  }

  /** The state of one read. */
  private static final class Parse {
    private final String fileName;
    private final FileChannel channel;
    private long fileSize;
    private long headerLength;

    Parse(String fileName, FileChannel channel) {
      this.fileName = fileName;
      this.channel = channel;
    }

    SafetensorsHeader run() throws IOException {
      fileSize = channel.size();
      if (fileSize < 8) {
        throw defect("file is " + fileSize + " bytes, shorter than the 8-byte header length field");
      }
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(len, 0);
      headerLength = len.getLong(0);
      if (headerLength < 0 || headerLength > MAX_HEADER_LENGTH) {
        throw defect("header length " + Long.toUnsignedString(headerLength) + " is above the limit of "
            + MAX_HEADER_LENGTH + " bytes");
      }
      if (8 + headerLength > fileSize) {
        throw defect("header length " + headerLength + " runs past the end of the file (8 + " + headerLength
            + " > " + fileSize + " bytes)");
      }
      checkUtf8();
      Map<String, String> metadata = new LinkedHashMap<>();
      List<TensorInfo> tensors = new ArrayList<>();
      parseJson(metadata, tensors);
      checkLayout(tensors);
      return new SafetensorsHeader(fileName, headerLength, metadata, tensors, fileSize);
    }

    private void checkUtf8() throws IOException {
      CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT);
      ByteBuffer in = ByteBuffer.allocate(BUFFER_SIZE);
      CharBuffer out = CharBuffer.allocate(BUFFER_SIZE);
      long end = 8 + headerLength;
      long next = 8; // file offset of the next byte to read into `in`
      long consumed = 0; // header bytes the decoder has consumed before `in`'s first byte
      while (true) {
        int want = (int) Math.min(in.remaining(), end - next);
        if (want > 0) {
          ByteBuffer slice = in.duplicate();
          slice.limit(slice.position() + want);
          readFully(slice, next);
          in.position(in.position() + want);
          next += want;
        }
        boolean last = next == end;
        in.flip();
        CoderResult r;
        do {
          out.clear();
          r = decoder.decode(in, out, last);
          if (r.isError()) {
            long at = consumed + in.position();
            throw defect("header is not valid UTF-8: malformed byte sequence at byte " + at + " of the header (file"
                + " offset " + (8 + at) + ")");
          }
        } while (r.isOverflow());
        consumed += in.position();
        in.compact();
        if (last) {
          out.clear();
          decoder.flush(out);
          return;
        }
      }
    }

    private void parseJson(Map<String, String> metadata, List<TensorInfo> tensors) throws IOException {
      // A Reader, not bytes: Jackson would otherwise skip a byte order mark and guess UTF-16/32 from NUL bytes,
      // both of which the reference refuses. The bytes are already known to be valid UTF-8.
      Reader reader = new InputStreamReader(new RangeInputStream(channel, 8, 8 + headerLength),
          StandardCharsets.UTF_8);
      try (JsonParser p = JSON.createParser(reader)) {
        JsonToken t = p.nextToken();
        if (t == null) {
          throw defect("header is not valid JSON: it holds no JSON value (" + headerLength + " bytes of whitespace)");
        }
        if (t != JsonToken.START_OBJECT) {
          throw defect("header JSON is not an object (it starts with " + describe(p, t) + ")");
        }
        Set<String> seen = new HashSet<>();
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
          String name = p.currentName();
          if (!seen.add(name)) {
            throw defect(METADATA_KEY.equals(name)
                ? "'__metadata__' appears twice in the header"
                : "tensor '" + name + "' appears twice in the header");
          }
          checkUnicode(name, "tensor name");
          t = p.nextToken();
          if (METADATA_KEY.equals(name)) {
            readMetadata(p, t, metadata);
          } else {
            tensors.add(readTensor(p, t, name));
          }
        }
        if (p.nextToken() != null) {
          throw defect("header is not valid JSON: content after the header object at " + where(p.currentLocation()));
        }
      } catch (com.fasterxml.jackson.core.exc.StreamConstraintsException e) {
        String m = e.getOriginalMessage();
        if (m.startsWith("Name") || m.startsWith("String")) {
          // the parser meets the length before the name or value ends: which of the two it is, it cannot say
          int over = m.startsWith("Name") ? MAX_PARSED_NAME : MAX_PARSED_STRING;
          throw defect("header holds a name or string of more than " + over + " characters, far more than a tensor "
              + "name or a metadata value may have", e);
        }
        throw defect("header is not valid JSON: " + m + " at " + where(e.getLocation()), e);
      } catch (JsonProcessingException e) {
        throw defect("header is not valid JSON: " + e.getOriginalMessage() + " at " + where(e.getLocation()), e);
      }
    }

    private void readMetadata(JsonParser p, JsonToken t, Map<String, String> metadata) throws IOException {
      if (t == JsonToken.VALUE_NULL) {
        return;
      }
      if (t != JsonToken.START_OBJECT) {
        throw defect("'__metadata__' is not an object of strings (found " + describe(p, t) + ")");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        checkUnicode(key, "'__metadata__' key");
        if (metadata.containsKey(key)) {
          throw defect("'__metadata__' key '" + key + "' appears twice");
        }
        t = p.nextToken();
        if (t != JsonToken.VALUE_STRING) {
          throw defect("'__metadata__' value of '" + key + "' is not a string (found " + describe(p, t) + ")");
        }
        String value = p.getText();
        checkUnicode(value, "'__metadata__' value of '" + key + "'");
        metadata.put(key, value);
      }
    }

    private TensorInfo readTensor(JsonParser p, JsonToken t, String name) throws IOException {
      if (t != JsonToken.START_OBJECT) {
        throw defect("tensor '" + name + "': entry is not an object (found " + describe(p, t) + ")");
      }
      DType dtype = null;
      List<Long> shape = null;
      long[] offsets = null;
      Set<String> keys = new HashSet<>();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        checkUnicode(key, "tensor '" + name + "': key");
        if (KNOWN_KEYS.contains(key) && !keys.add(key)) {
          throw defect("tensor '" + name + "': key '" + key + "' appears twice in its entry");
        }
        t = p.nextToken();
        switch (key) {
          case "dtype" -> {
            if (t != JsonToken.VALUE_STRING) {
              throw defect("tensor '" + name + "': 'dtype' is not a string (found " + describe(p, t) + ")");
            }
            String s = p.getText();
            dtype = DType.parseSafetensors(s).orElseThrow(() -> defect("tensor '" + name + "': unknown dtype '"
                + abbreviate(s) + "'"));
          }
          case "shape" -> shape = readIntegers(p, t, name, "shape");
          case "data_offsets" -> {
            List<Long> o = readIntegers(p, t, name, "data_offsets");
            if (o.size() != 2) {
              throw defect("tensor '" + name + "': 'data_offsets' must be two integers [begin, end], found "
                  + o.size() + " " + o);
            }
            offsets = new long[] {o.get(0), o.get(1)};
          }
          default -> skipUnknown(p, t, name, key);
        }
      }
      if (dtype == null) {
        throw defect("tensor '" + name + "': missing 'dtype'");
      }
      if (shape == null) {
        throw defect("tensor '" + name + "': missing 'shape'");
      }
      if (offsets == null) {
        throw defect("tensor '" + name + "': missing 'data_offsets'");
      }
      if (offsets[1] < offsets[0]) {
        throw defect("tensor '" + name + "': data_offsets are reversed: begin " + offsets[0] + " > end "
            + offsets[1]);
      }
      return new TensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private List<Long> readIntegers(JsonParser p, JsonToken t, String tensor, String field) throws IOException {
      if (t != JsonToken.START_ARRAY) {
        throw defect("tensor '" + tensor + "': '" + field + "' is not an array of integers (found " + describe(p, t)
            + ")");
      }
      List<Long> values = new ArrayList<>();
      while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
        if (t != JsonToken.VALUE_NUMBER_INT) {
          throw defect("tensor '" + tensor + "': '" + field + "' holds " + describe(p, t)
              + ", not a non-negative integer");
        }
        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
          throw defect("tensor '" + tensor + "': '" + field + "' value " + abbreviate(p.getText())
              + " overflows 64 bits");
        }
        long v = p.getLongValue();
        if (v == 0 && p.getText().startsWith("-")) {
          // serde_json reads -0 as the float -0.0, which no usize field takes
          throw defect("tensor '" + tensor + "': '" + field + "' holds -0, which JSON readers take for the float -0.0,"
              + " not a non-negative integer");
        }
        if (v < 0) {
          throw defect("tensor '" + tensor + "': '" + field + "' value " + v + " is negative");
        }
        values.add(v);
      }
      return values;
    }

    /**
     * Skips the value of a key the reference ignores, checking it as serde_json checks what it ignores: a number must
     * be finite as a 64-bit float ({@code 1e999} is "number out of range") and a string or key must not hold an
     * unpaired surrogate escape.
     */
    private void skipUnknown(JsonParser p, JsonToken first, String tensor, String key) throws IOException {
      String where = "tensor '" + tensor + "': value of key '" + abbreviate(key) + "'";
      int depth = 0;
      JsonToken t = first;
      while (true) {
        switch (t) {
          case START_OBJECT, START_ARRAY -> depth++;
          case END_OBJECT, END_ARRAY -> depth--;
          case FIELD_NAME -> checkUnicode(p.currentName(), where + ": key");
          case VALUE_STRING -> checkUnicode(p.getText(), where + ": string");
          case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
            // parsed from the text: linear in its length, where Jackson would build a BigInteger or BigDecimal
            if (Double.isInfinite(Double.parseDouble(p.getText()))) {
              throw defect(where + " holds the number " + abbreviate(p.getText())
                  + ", out of the range of a 64-bit float");
            }
          }
          default -> { }
        }
        if (depth == 0) {
          return;
        }
        t = p.nextToken();
      }
    }

    /** Sizes against shapes, then the tiling of the data section (tensors arrive in file order after sorting). */
    private void checkLayout(List<TensorInfo> tensors) throws InvalidInputException {
      long dataLength = fileSize - 8 - headerLength;
      for (TensorInfo t : tensors) {
        long bits;
        try {
          long elements = 1;
          for (long d : t.shape()) {
            elements = Math.multiplyExact(elements, d);
          }
          bits = Math.multiplyExact(elements, (long) t.dtype().bits());
        } catch (ArithmeticException e) {
          throw defect("tensor '" + t.name() + "': shape " + t.shape() + " of " + t.dtype()
              + " overflows 64 bits when computing its size");
        }
        if (bits % 8 != 0) {
          throw defect("tensor '" + t.name() + "': shape " + t.shape() + " of " + t.dtype() + " is " + bits
              + " bits, not a whole number of bytes");
        }
        if (t.byteLength() != bits / 8) {
          throw defect("tensor '" + t.name() + "': data_offsets [" + t.begin() + ", " + t.end() + "] span "
              + t.byteLength() + " bytes but shape " + t.shape() + " of " + t.dtype() + " needs " + bits / 8);
        }
        if (t.end() > dataLength) {
          throw defect("tensor '" + t.name() + "' ends at byte " + t.end() + " of the data, past the end of the file"
              + " (the data section holds " + dataLength + " bytes)");
        }
      }
      List<TensorInfo> sorted = new ArrayList<>(tensors);
      sorted.sort(SafetensorsHeader.FILE_ORDER);
      long expected = 0;
      String previous = null;
      for (TensorInfo t : sorted) {
        if (t.begin() != expected) {
          String what = t.begin() > expected ? "leaves a gap" : "overlaps";
          throw defect("tensor '" + t.name() + "' begins at byte " + t.begin() + " of the data but "
              + (previous == null ? "the first tensor must begin at 0" : "tensor '" + previous + "' ends at "
                  + expected) + " (" + (previous == null ? "data does not start at 0" : what) + ")");
        }
        expected = t.end();
        previous = t.name();
      }
      if (expected != dataLength) {
        throw defect("tensors cover " + expected + " bytes of data but the file has " + dataLength
            + " bytes after the header (" + (dataLength - expected) + " trailing bytes)");
      }
    }

    private void checkUnicode(String s, String what) throws InvalidInputException {
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
        } else if (Character.isSurrogate(c)) {
          throw defect(what + " '" + s.substring(0, i) + "...' holds an unpaired surrogate escape \\u"
              + Integer.toHexString(c) + ", which is not Unicode");
        }
      }
    }

    private void readFully(ByteBuffer dst, long position) throws IOException {
      long pos = position;
      while (dst.hasRemaining()) {
        int n = channel.read(dst, pos);
        if (n < 0) {
          throw defect("file ended at byte " + pos + " while reading the header; it was " + fileSize
              + " bytes when opened (truncated while being read?)");
        }
        pos += n;
      }
    }

    private String describe(JsonParser p, JsonToken t) throws IOException {
      if (t == null) {
        return "end of input";
      }
      return switch (t) {
        case START_OBJECT -> "an object";
        case START_ARRAY -> "an array";
        case VALUE_STRING -> "the string \"" + abbreviate(p.getText()) + "\"";
        case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "the number " + abbreviate(p.getText());
        case VALUE_TRUE, VALUE_FALSE -> "the boolean " + p.getText();
        case VALUE_NULL -> "null";
        default -> t.name();
      };
    }

    private static String abbreviate(String s) {
      return s.length() <= 64 ? s : s.substring(0, 64) + "...";
    }

    private static String where(JsonLocation loc) {
      return loc == null ? "an unknown position" : "line " + loc.getLineNr() + ", column " + loc.getColumnNr();
    }

    private InvalidInputException defect(String what) {
      return new InvalidInputException(fileName + ": " + what);
    }

    private InvalidInputException defect(String what, Throwable cause) {
      return new InvalidInputException(fileName + ": " + what, cause);
    }
  }

  /** Bytes {@code [from, to)} of a channel through positional reads; does not close the channel. */
  private static final class RangeInputStream extends InputStream {
    private final FileChannel channel;
    private final long to;
    private long pos;

    RangeInputStream(FileChannel channel, long from, long to) {
      this.channel = channel;
      this.pos = from;
      this.to = to;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (pos >= to) {
        return -1;
      }
      int n = channel.read(ByteBuffer.wrap(b, off, (int) Math.min(len, to - pos)), pos);
      if (n < 0) {
        throw new IOException("file ended at byte " + pos + " while reading the header (truncated while being read?)");
      }
      pos += n;
      return n;
    }
  }
}
