package io.ferry.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import io.ferry.format.FileLayout;
import io.ferry.format.FormatInput;
import io.ferry.format.Region;
import io.ferry.format.TensorInfo;
import io.ferry.onnx.proto.OnnxSubset.ModelHeader;
import io.ferry.onnx.proto.OnnxSubset.OperatorSetIdProto;
import io.ferry.onnx.proto.OnnxSubset.StringStringEntryProto;
import io.ferry.onnx.proto.OnnxSubset.TensorHeader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads one ONNX file's structure into a layout without loading tensor data: a {@link CodedInputStream} over
 * positional reads walks {@code ModelProto} and its {@code graph}, and for each {@code initializer} records where its
 * {@code raw_data} (or packed {@code float_data}/{@code double_data}, whose bytes are the same little-endian values)
 * lies in the file and skips it. The small parts (an initializer without its data, the model's header fields) are
 * copied aside and parsed by the classes generated from {@code onnx_subset.proto}. One instance per file; memory is a
 * 64 KiB buffer plus the tensor table.
 */
final class OnnxReader {
  /** Protobuf messages, so ONNX files without external data, are smaller than 2 GiB. */
  static final long MAX_FILE = Integer.MAX_VALUE;
  /** Bytes of one initializer without its data, or of the model's header fields, that are parsed. */
  static final int MAX_HEADER_FIELD = 16 << 20;
  private static final int LEN = WireFormat.WIRETYPE_LENGTH_DELIMITED;
  /**
   * The highest {@code TensorProto.DataType} ONNX defines (FLOAT6E3M2, ONNX 1.23); 0 is UNDEFINED. A higher one is
   * refused: no reader knows its element size.
   */
  static final int MAX_DATA_TYPE = 28;

  private final FormatInput in;
  private final CodedInputStream cis;
  private final List<Region> regions = new ArrayList<>();
  private final Set<String> names = new HashSet<>();
  private final List<OnnxMetadata.External> external = new ArrayList<>();
  /** The initializers below the main graph (of subgraphs) and the sparse initializers, in file order. */
  private final List<OnnxMetadata.Below> below = new ArrayList<>();
  private long regionEnd;
  private int initializers;
  private int unlisted;
  /** Keys of {@code external_data} onnxruntime does not know, each with the first tensor that has it and a count. */
  private final Map<String, Unrecognized> unrecognized = new java.util.TreeMap<>();

  /** Where an unrecognized {@code external_data} key was first seen, and on how many tensors. */
  private static final class Unrecognized {
    final String first;
    int count;

    Unrecognized(String first) {
      this.first = first;
    }
  }

  private OnnxReader(FormatInput in) {
    this.in = in;
    this.cis = CodedInputStream.newInstance(new PositionalStream(in), 1 << 16);
    cis.setSizeLimit(Integer.MAX_VALUE);
  }

  static FileLayout read(FormatInput in) throws IOException {
    if (in.size() > MAX_FILE) {
      throw new InvalidInputException(in.name() + ": " + in.size() + " bytes is more than a protobuf message can hold ("
          + MAX_FILE + "); an ONNX model this big keeps its weights in external data files");
    }
    return new OnnxReader(in).read();
  }

  private FileLayout read() throws IOException {
    ByteArrayOutputStream header = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(header);
    boolean graph = false;
    try {
      for (int tag = cis.readTag(); tag != 0; tag = cis.readTag()) {
        int field = WireFormat.getTagFieldNumber(tag);
        if (field == 7 && WireFormat.getTagWireType(tag) == LEN) {
          // a message field given twice is merged by protobuf: the second graph's initializers follow the first's
          graph = true;
          int old = pushLength("the graph");
          graph();
          cis.popLimit(old);
        } else if ((field == 20 || field == 25) && WireFormat.getTagWireType(tag) == LEN) {
          nested(field == 20 ? Nested.TRAINING : Nested.FUNCTION, 1,
              field == 20 ? "the model's training info" : "a function of the model");
        } else if (field == 1 || field == 2 || field == 3 || field == 4 || field == 5 || field == 8
            || field == 14) {
          copyField(tag, out, "model field " + field);
        } else {
          skip(tag);
        }
      }
      out.flush();
    } catch (InvalidProtocolBufferException e) {
      throw defect("not a valid ONNX protobuf (at byte " + cis.getTotalBytesRead() + "): " + e.getMessage(), e);
    }
    if (cis.getTotalBytesRead() != in.size()) {
      throw defect("the protobuf ends at byte " + cis.getTotalBytesRead() + " of " + in.size());
    }
    ModelHeader h = parse(() -> ModelHeader.parseFrom(header.toByteArray()), "the model's header fields");
    if (!h.hasIrVersion()) {
      throw defect("no ir_version: not an ONNX model");
    }
    if (!graph) {
      throw defect("no graph: not an ONNX model");
    }
    regions.add(new Region.Header(regionEnd, in.size()));
    return new FileLayout(OnnxFormat.NAME, in.name(), in.size(), 0, regions,
        new OnnxMetadata(withUnrecognized(headerStrings(h)), initializers, unlisted, external, below));
  }

  private void graph() throws IOException {
    for (int tag = cis.readTag(); tag != 0; tag = cis.readTag()) {
      int field = WireFormat.getTagFieldNumber(tag);
      if (field == 5 && WireFormat.getTagWireType(tag) == LEN) {
        initializer();
      } else if (field == 1 && WireFormat.getTagWireType(tag) == LEN) {
        nested(Nested.NODE, 1, MAIN);
      } else if (field == 15 && WireFormat.getTagWireType(tag) == LEN) {
        nested(Nested.SPARSE_INITIALIZER, 1, MAIN);
      } else {
        skip(tag);
      }
    }
  }

  /**
   * The messages below the main graph that may hold tensors: nodes, their attributes (a {@code Constant}'s value,
   * an {@code If} or {@code Loop} body), subgraphs and sparse tensors, and beside it the model's functions and
   * training graphs. Their tensors are header bytes, but one may
   * keep its data in another file, which ONNX's loaders read like an initializer's. An {@code INITIALIZER} is a
   * subgraph's initializer, {@code SPARSE_VALUES} the values (which name it) of a sparse initializer.
   */
  private enum Nested {
    NODE, ATTRIBUTE, GRAPH, SPARSE, SPARSE_INITIALIZER, TENSOR, INITIALIZER, SPARSE_VALUES, FUNCTION, TRAINING
  }

  /** How {@link #below} names the main graph. */
  private static final String MAIN = "the main graph";

  /** How deep messages below the graph may nest; protobuf's C++ parser, onnxruntime's, stops at 100. */
  static final int MAX_NESTING = 100;

  /**
   * Walks one nested message (its length next in the stream) for tensors with external data, whose locations are then
   * checked as an initializer's are: recorded in {@link #external} without a dtype, so that the directory check finds
   * their files in the model and their bytes inside them (and leaves those files opaque). The initializers of
   * subgraphs and the sparse initializers are recorded in {@link #below} by name, with {@code where} they are: the
   * message this one is part of ("the main graph", "subgraph then_branch of node 'if0' (If) in the main graph").
   */
  private void nested(Nested kind, int depth, String where) throws IOException {
    long at = cis.getTotalBytesRead();
    if (depth > MAX_NESTING) {
      throw defect("messages below the graph nest more than " + MAX_NESTING + " deep (at byte " + at + ")");
    }
    if (kind == Nested.TENSOR || kind == Nested.INITIALIZER || kind == Nested.SPARSE_VALUES) {
      nestedTensor(at, kind == Nested.TENSOR ? "tensor" : kind == Nested.INITIALIZER ? "initializer"
          : "sparse initializer", where);
      return;
    }
    int old = pushLength("a nested " + kind.name().toLowerCase(java.util.Locale.ROOT) + " message");
    // the names that say where a subgraph lies, as far as they precede it (onnx writes them first)
    String name = null;
    String opType = null;
    for (int tag = cis.readTag(); tag != 0; tag = cis.readTag()) {
      int field = WireFormat.getTagFieldNumber(tag);
      boolean len = WireFormat.getTagWireType(tag) == LEN;
      if (len && (kind == Nested.NODE && field == 3 || kind == Nested.ATTRIBUTE && field == 1)) {
        name = shortString();
        continue;
      }
      if (len && kind == Nested.NODE && field == 4) {
        opType = shortString();
        continue;
      }
      Nested child = !len ? null : switch (kind) {
        case NODE -> field == 5 ? Nested.ATTRIBUTE : null;
        case ATTRIBUTE -> switch (field) {
          case 5, 10 -> Nested.TENSOR;
          case 6, 11 -> Nested.GRAPH;
          case 22, 23 -> Nested.SPARSE;
          default -> null;
        };
        case GRAPH -> switch (field) {
          case 1 -> Nested.NODE;
          case 5 -> Nested.INITIALIZER;
          case 15 -> Nested.SPARSE_INITIALIZER;
          default -> null;
        };
        case SPARSE -> field == 1 || field == 2 ? Nested.TENSOR : null;
        // its values tensor names it; its indices are a tensor like a node's
        case SPARSE_INITIALIZER -> field == 1 ? Nested.SPARSE_VALUES : field == 2 ? Nested.TENSOR : null;
        // a model's functions (their nodes, their attributes' defaults) and training graphs
        case FUNCTION -> field == 7 ? Nested.NODE : field == 11 ? Nested.ATTRIBUTE : null;
        case TRAINING -> field == 1 || field == 2 ? Nested.GRAPH : null;
        case TENSOR, INITIALIZER, SPARSE_VALUES -> null;
      };
      if (child == null) {
        skip(tag);
        continue;
      }
      String inside = switch (kind) {
        case NODE -> "node " + (name == null ? "" : "'" + name + "' ") + "(" + (opType == null ? "?" : opType) + ")"
            + (where.equals(MAIN) ? "" : " in " + where);
        case ATTRIBUTE -> (child == Nested.GRAPH ? "subgraph " : "attribute ") + (name == null ? "" : name + " ")
            + "of " + where;
        case SPARSE -> "a sparse tensor of " + where;
        case SPARSE_INITIALIZER -> child == Nested.TENSOR ? "a sparse initializer of " + where : where;
        default -> where;
      };
      nested(child, depth + 1, inside.length() > 1000 ? inside.substring(0, 1000) + "..." : inside);
    }
    cis.popLimit(old);
  }

  /** A short string field (a name): its text, or "..." for one longer than 256 bytes (skipped). */
  private String shortString() throws IOException {
    int len = readLength("a name");
    if (len > 256) {
      if (len > in.size() - cis.getTotalBytesRead()) {
        throw defect("a name at byte " + cis.getTotalBytesRead() + " is " + len + " bytes long, past the end of the"
            + " file (" + in.size() + " bytes)");
      }
      cis.skipRawBytes(len);
      return "...";
    }
    return new String(cis.readRawBytes(len), java.nio.charset.StandardCharsets.UTF_8);
  }

  /**
   * A tensor below the graph, a {@code role} ("initializer", "sparse initializer" or "tensor") of {@code where}: its
   * data stays header bytes, but it is checked as an initializer of the main graph is (a data_type, no negative
   * dimension, its values in one field, the field its type uses, as many as its shape has), since onnx's checker
   * checks every tensor of the model so (and onnxruntime the count); external data is checked and recorded. An
   * initializer (of a subgraph, or a sparse initializer's values) is recorded in {@link #below} if it has a name.
   */
  private void nestedTensor(long at, String role, String where) throws IOException {
    String what = "the tensor at byte " + at + " (in a node, subgraph or sparse initializer)";
    int old = pushLength(what);
    ByteArrayOutputStream small = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(small);
    // the value fields that hold data, counted as in initializer()
    Set<Integer> valueFields = new TreeSet<>();
    // raw_data's length (a bytes field given twice: protobuf keeps the last)
    int rawLength = 0;
    // the bytes of float_data or double_data; the values of int32_data, int64_data, uint64_data or string_data
    long fixedBytes = 0;
    long values = 0;
    for (int tag = cis.readTag(); tag != 0; tag = cis.readTag()) {
      int field = WireFormat.getTagFieldNumber(tag);
      int wire = WireFormat.getTagWireType(tag);
      if (field == 1 || field == 2 || field == 3 || field == 8 || field == 13 || field == 14) {
        copyField(tag, out, what);
      } else if (field == 9 && wire == LEN) {
        rawLength = readLength(what + ": field 9");
        valueFields.add(field);
        cis.skipRawBytes(rawLength);
      } else if (field == 4 && (wire == LEN || wire == WireFormat.WIRETYPE_FIXED32)
          || field == 10 && (wire == LEN || wire == WireFormat.WIRETYPE_FIXED64)) {
        int len = wire == LEN ? readLength(what + ": field " + field) : field == 4 ? 4 : 8;
        cis.skipRawBytes(len);
        fixedBytes += len;
        if (len > 0) {
          valueFields.add(field);
        }
      } else if (field == 6 && wire == LEN) {
        valueFields.add(field);
        values++;
        skip(tag);
      } else if ((field == 5 || field == 7 || field == 11) && (wire == LEN || wire == WireFormat.WIRETYPE_VARINT)) {
        if (wire == WireFormat.WIRETYPE_VARINT) {
          valueFields.add(field);
          values++;
          cis.readRawVarint64();
        } else {
          int len = readLength(what + ": field " + field);
          if (len > 0) {
            valueFields.add(field);
          }
          values += varints(len);
        }
      } else {
        skip(tag);
      }
    }
    cis.popLimit(old);
    out.flush();
    TensorHeader t = parse(() -> TensorHeader.parseFrom(small.toByteArray()), what);
    if (!role.equals("tensor") && !t.getName().isEmpty()) {
      below.add(new OnnxMetadata.Below(t.getName(), (role.equals("initializer") ? "an " : "a ") + role + " of "
          + where));
    }
    // how the snapshot names it (external.tensor 'NAME' at byte N), and how errors do, here and in the directory check
    String name = (t.getName().isEmpty() ? "" : "'" + t.getName() + "' ") + "at byte " + at;
    String tensor = role + (t.getName().isEmpty() ? "" : " '" + t.getName() + "'") + " of " + where + ", at byte "
        + at;
    if (valueFields.size() > 1) {
      throw defect(tensor + ": " + twoFields(valueFields));
    }
    List<Long> shape = t.getDimsList();
    long elements = elements(tensor, shape);
    int type = t.getDataType();
    int dataField = valueFields.isEmpty() ? 0 : valueFields.iterator().next();
    // as for an initializer of the main graph: onnx's checker checks every tensor of the model so
    checkType(tensor, type, dataField, rawLength, elements);
    DType dtype = dtype(type);
    Long bytes = byteLength(tensor, dtype, shape, elements);
    boolean isExternal = t.getDataLocation() == TensorHeader.DataLocation.EXTERNAL;
    if (!isExternal && t.getExternalDataCount() > 0) {
      throw defect(tensor + " has external_data entries but its data_location is not EXTERNAL (a reader would not"
          + " know whether its data is in the file or elsewhere)");
    }
    if (!isExternal) {
      if (t.hasSegment()) {
        return;
      }
      if (valueFields.isEmpty() && elements > 0) {
        throw defect(tensor + ": shape " + shape + " has " + elements + " elements, but it holds no data (no"
            + " raw_data, no typed data) and is not EXTERNAL");
      }
      String typedName = valuesNeeded(dataField, type);
      if (typedName != null && values != elements) {
        throw defect(tensor + ": " + typedName + " holds " + values + " values, but shape " + shape + " of "
            + TensorHeader.DataType.forNumber(type) + " needs " + elements);
      }
      long dataLength = dataField == 9 ? rawLength : fixedBytes;
      if ((dataField == 9 || dataField == 4 || dataField == 10) && bytes != null && dataLength != bytes) {
        // onnx's checker refuses too few bytes, onnxruntime any other count
        throw defect(tensor + ": " + FIELD_NAMES.getOrDefault(dataField, "raw_data") + " holds " + dataLength
            + " bytes, but shape " + shape + " of " + dtype + " needs " + bytes);
      }
      if (dataField == 9 && dtype != null && bytes == null && dataLength != paddedLength(dtype, elements)) {
        throw defect(tensor + ": raw_data holds " + dataLength + " bytes, but shape " + shape + " of " + dtype
            + " needs " + paddedLength(dtype, elements) + " (its last byte padded)");
      }
      return;
    }
    if (!valueFields.isEmpty()) {
      throw defect(tensor + " is marked EXTERNAL but also holds data in the file");
    }
    String location = null;
    long offset = 0;
    long length = -1;
    checkExternalKeys(tensor, t);
    for (StringStringEntryProto e : t.getExternalDataList()) {
      switch (e.getKey()) {
        case "location" -> location = e.getValue();
        case "offset" -> offset = number(tensor, "offset", e.getValue());
        case "length" -> length = number(tensor, "length", e.getValue());
        default -> { } // checksum, basepath: not needed
      }
    }
    if (location == null) {
      throw defect(tensor + " is EXTERNAL but names no location");
    }
    String why = ExternalPaths.problem(location);
    if (why != null) {
      throw defect(tensor + ": external data location '" + location + "' " + why);
    }
    Long need = bytes != null || dtype == null ? bytes : Long.valueOf(paddedLength(dtype, elements));
    if (length >= 0 && need != null && length != need) {
      // onnxruntime refuses it ("external data size mismatch"), as for an initializer of the main graph
      throw defect(tensor + ": external data length " + length + ", but shape " + shape + " of " + dtype + " needs "
          + need + (bytes == null ? " (its last byte padded)" : ""));
    }
    // without a length, the bytes its type and shape need (when Ferry knows the type's size)
    external.add(new OnnxMetadata.External(name, null, shape, ExternalPaths.normalize(location), offset,
        length >= 0 ? length : bytes == null ? -1 : bytes, false, tensor));
  }

  private void initializer() throws IOException {
    int index = initializers++;
    long at = cis.getTotalBytesRead();
    int old = pushLength("initializer " + index);
    ByteArrayOutputStream small = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(small);
    // the value fields that hold data, as ONNX's checker counts them: raw_data if given, a repeated field if it has
    // elements
    Set<Integer> valueFields = new TreeSet<>();
    long rawStart = -1;
    int rawLength = 0;
    // float_data or double_data: where its last non-empty run of elements starts (or an empty one, where an empty
    // tensor's bytes lie), their bytes and how many non-empty runs it has: protobuf concatenates the runs of a
    // repeated field (packed or not), so only a single run is one byte range of the file
    long runStart = -1;
    // the values of int32_data, int64_data, uint64_data or string_data
    long values = 0;
    long runTotal = 0;
    int runs = 0;
    int runField = 0;
    for (int tag = cis.readTag(); tag != 0; tag = cis.readTag()) {
      int field = WireFormat.getTagFieldNumber(tag);
      int wire = WireFormat.getTagWireType(tag);
      if (field == 9 && wire == LEN) {
        // a bytes field given twice: protobuf keeps the last
        rawLength = readLength("initializer " + index + ": field 9");
        rawStart = cis.getTotalBytesRead();
        valueFields.add(field);
        cis.skipRawBytes(rawLength);
      } else if (field == 4 && (wire == LEN || wire == WireFormat.WIRETYPE_FIXED32)
          || field == 10 && (wire == LEN || wire == WireFormat.WIRETYPE_FIXED64)) {
        int len = wire == LEN ? readLength("initializer " + index + ": field " + field) : field == 4 ? 4 : 8;
        long start = cis.getTotalBytesRead();
        cis.skipRawBytes(len);
        if (len > 0) {
          valueFields.add(field);
          runs++;
          runStart = start;
          runTotal += len;
          runField = field;
        } else if (runs == 0) {
          runStart = start;
          runField = field;
        }
      } else if (field == 6 && wire == LEN) {
        // string_data: every element is a length-delimited field of its own, an empty string too
        valueFields.add(field);
        values++;
        skip(tag);
      } else if ((field == 5 || field == 7 || field == 11) && (wire == LEN || wire == WireFormat.WIRETYPE_VARINT)) {
        if (wire == WireFormat.WIRETYPE_VARINT) {
          valueFields.add(field);
          values++;
          cis.readRawVarint64();
        } else {
          int len = readLength("initializer " + index + ": field " + field);
          if (len > 0) {
            valueFields.add(field);
          }
          values += varints(len);
        }
      } else if (field == 1 || field == 2 || field == 3 || field == 8 || field == 13 || field == 14) {
        copyField(tag, out, "initializer " + index);
      } else {
        skip(tag);
      }
    }
    // an empty float_data or double_data alone: where an empty tensor's (zero) bytes lie
    int dataField = valueFields.isEmpty() ? runField : valueFields.iterator().next();
    boolean typed = dataField != 0 && dataField != 9 && dataField != 4 && dataField != 10;
    long dataStart = dataField == 9 ? rawStart : runStart;
    long dataLength = dataField == 9 ? rawLength : runTotal;
    cis.popLimit(old);
    out.flush();
    TensorHeader t = parse(() -> TensorHeader.parseFrom(small.toByteArray()), "initializer " + index);
    if (!t.getNameBytes().isValidUtf8()) {
      // protobuf-java decodes it with U+FFFD in place of the bad bytes: a name the file does not have
      throw defect("initializer " + index + " (byte " + at + "): its name '" + percentEncoded(t.getNameBytes())
          + "' (bytes percent-encoded) is not valid UTF-8, which ONNX requires of names");
    }
    String name = t.getName();
    if (valueFields.size() > 1) {
      throw defect("initializer " + (name.isEmpty() ? index : "'" + name + "'") + " (byte " + at + "): "
          + twoFields(valueFields));
    }
    if (name.isEmpty()) {
      throw defect("initializer " + index + " (byte " + at + ") has no name");
    }
    if (!names.add(name)) {
      throw defect("initializer '" + name + "' appears twice");
    }
    List<Long> shape = new ArrayList<>(t.getDimsList());
    String subject = "initializer '" + name + "'";
    long elements = elements(subject, shape);
    int type = t.getDataType();
    checkType(subject, type, valueFields.isEmpty() ? 0 : dataField, rawLength, elements);
    DType dtype = dtype(type);
    Long bytes = byteLength(subject, dtype, shape, elements);
    boolean isExternal = t.getDataLocation() == TensorHeader.DataLocation.EXTERNAL;
    if (!isExternal && t.getExternalDataCount() > 0) {
      throw defect("initializer '" + name + "' has external_data entries but its data_location is not EXTERNAL"
          + " (a reader would not know whether its data is in the file or elsewhere)");
    }
    if (!isExternal && valueFields.isEmpty() && !t.hasSegment() && elements > 0) {
      throw defect("initializer '" + name + "': shape " + shape + " has " + elements + " elements, but it holds no"
          + " data (no raw_data, no typed data) and is not EXTERNAL");
    }
    if (isExternal) {
      if (!valueFields.isEmpty()) {
        throw defect("initializer '" + name + "' is marked EXTERNAL but also holds data in the file");
      }
      external(name, t, dtype, shape, elements, bytes);
      return;
    }
    String typedField = !typed || t.hasSegment() ? null : valuesNeeded(dataField, type);
    if (typedField != null && values != elements) {
      // onnx's numpy_helper and onnxruntime refuse it too
      throw defect("initializer '" + name + "': " + typedField + " holds " + values + " values, but shape " + shape
          + " of " + TensorHeader.DataType.forNumber(type) + " needs " + elements);
    }
    if (dataField == 9 && !t.hasSegment() && dtype != null && bytes == null
        && rawLength != paddedLength(dtype, elements)) {
      // not listed, but onnx's checker refuses fewer bytes and onnxruntime any other count
      throw defect("initializer '" + name + "': raw_data holds " + rawLength + " bytes, but shape " + shape + " of "
          + dtype + " needs " + paddedLength(dtype, elements) + " (its last byte padded)");
    }
    if (t.hasSegment() || dataField == 0 || typed || dtype == null || bytes == null
        || dataField == 4 && t.getDataType() != TensorHeader.DataType.FLOAT_VALUE
        && t.getDataType() != TensorHeader.DataType.COMPLEX64_VALUE
        || dataField == 10 && t.getDataType() != TensorHeader.DataType.DOUBLE_VALUE
        && t.getDataType() != TensorHeader.DataType.COMPLEX128_VALUE) {
      unlisted++;
      return;
    }
    if (dataLength != bytes) {
      throw defect("initializer '" + name + "': " + (dataField == 9 ? "raw_data" : dataField == 4 ? "float_data"
          : "double_data") + " holds " + dataLength + " bytes, but shape " + shape + " of " + dtype + " needs "
          + bytes);
    }
    if (runs > 1 && dataField != 9) {
      // its elements lie in several runs of the file, not in one byte range that a tensor region could name
      unlisted++;
      return;
    }
    TensorInfo info = new TensorInfo(name, dtype, shape, dataStart, dataStart + dataLength);
    regions.add(new Region.Header(regionEnd, dataStart));
    regions.add(Region.Tensor.of(info, 0));
    regionEnd = dataStart + dataLength;
  }

  /** The elements of a tensor's shape; a negative dimension, or more than 2^63 elements, is a defect of it. */
  private long elements(String subject, List<Long> shape) throws InvalidInputException {
    long elements = 1;
    for (long d : shape) {
      if (d < 0) {
        throw defect(subject + ": negative dimension in " + shape);
      }
      try {
        elements = Math.multiplyExact(elements, d);
      } catch (ArithmeticException e) {
        throw defect(subject + ": shape " + shape + " has more than 2^63 elements");
      }
    }
    return elements;
  }

  /**
   * Checks a tensor's data_type and the field its values are in ({@code dataField}, 0 for none), as onnx's checker
   * does for every tensor of a model: an ONNX element type; values in raw_data or in the typed field of their type
   * (numpy_helper reads no values from another, onnxruntime neither); STRING values never in raw_data (strings have
   * no fixed size).
   */
  private void checkType(String subject, int type, int dataField, int rawLength, long elements)
      throws InvalidInputException {
    if (type < 1 || type > MAX_DATA_TYPE) {
      throw defect(subject + ": data_type " + type + (type == 0 ? " (UNDEFINED)" : "")
          + " is not an ONNX element type (1 to " + MAX_DATA_TYPE + ")");
    }
    int typedFor = typedField(type);
    if (dataField != 0 && dataField != 9 && dataField != typedFor) {
      String kind = TensorHeader.DataType.forNumber(type).name();
      throw defect(subject + ": its " + kind + " values are in " + FIELD_NAMES.get(dataField) + " (field "
          + dataField + "), but ONNX keeps " + kind + " values in " + FIELD_NAMES.get(typedFor) + " (field "
          + typedFor + "), as onnx's checker requires");
    }
    if (type == TensorHeader.DataType.STRING_VALUE && dataField == 9 && (rawLength > 0 || elements > 0)) {
      throw defect(subject + ": its STRING values are in raw_data (" + rawLength + " bytes), but ONNX keeps STRING"
          + " values in string_data (field 6), as onnx's checker requires");
    }
  }

  /**
   * The bytes a tensor's values take, or null for a type Ferry has no dtype for ({@code dtype} null) or a count of
   * sub-byte values that is not a whole number of bytes; more than 2^63 bits is a defect (no file holds that much).
   */
  private Long byteLength(String subject, DType dtype, List<Long> shape, long elements) throws InvalidInputException {
    try {
      return dtype == null ? null : byteLength(dtype, elements);
    } catch (ArithmeticException e) {
      throw defect(subject + ": shape " + shape + " of " + dtype + " has more than 2^63 bits");
    }
  }

  /**
   * Why a tensor whose data is in two of its value fields is refused: ONNX's checker requires one and only one, and
   * readers differ in which of two they take.
   */
  private static String twoFields(Set<Integer> valueFields) {
    Iterator<Integer> two = valueFields.iterator();
    int a = two.next();
    int b = two.next();
    return "its data is in two fields, " + FIELD_NAMES.getOrDefault(a, "raw_data") + " (" + a + ") and "
        + FIELD_NAMES.getOrDefault(b, "raw_data") + " (" + b + "), but ONNX's checker requires one and only one"
        + " (readers differ in which they take)";
  }

  /** The typed value fields of a TensorProto by number. */
  private static final Map<Integer, String> FIELD_NAMES = Map.of(4, "float_data", 5, "int32_data", 6, "string_data",
      7, "int64_data", 10, "double_data", 11, "uint64_data");

  /**
   * The typed value field ONNX's checker requires for values of this type (when they are not in raw_data):
   * float_data for FLOAT and COMPLEX64, double_data for DOUBLE and COMPLEX128, int64_data for INT64, uint64_data for
   * UINT32 and UINT64, string_data for STRING, int32_data for every other type.
   */
  private static int typedField(int type) {
    return switch (type) {
      case 1, 14 -> 4;
      case 11, 15 -> 10;
      case 7 -> 7;
      case 12, 13 -> 11;
      case 8 -> 6;
      default -> 5;
    };
  }

  /**
   * The name of a typed value field that holds one value per element of this ONNX type (int32_data for the 8- and
   * 16-bit types, FLOAT16, BFLOAT16 and the FLOAT8 types, int64_data for INT64, uint64_data for UINT32 and UINT64,
   * string_data for STRING), or null where its count is not checked (sub-byte types pack several values in one; a
   * field ONNX does not use for the type).
   */
  private static String valuesNeeded(int field, int type) {
    return switch (field) {
      case 5 -> type == 2 || type == 3 || type == 4 || type == 5 || type == 6 || type == 9 || type == 10
          || type >= 16 && type <= 20 || type == 24 ? "int32_data" : null;
      case 6 -> type == 8 ? "string_data" : null;
      case 7 -> type == 7 ? "int64_data" : null;
      case 11 -> type == 12 || type == 13 ? "uint64_data" : null;
      default -> null;
    };
  }

  /** Reads {@code len} bytes of packed varints and counts them (the bytes that end one: high bit clear). */
  private long varints(int len) throws IOException {
    long n = 0;
    for (int left = len; left > 0; ) {
      byte[] b = cis.readRawBytes(Math.min(left, 1 << 16));
      for (byte x : b) {
        n += x >= 0 ? 1 : 0;
      }
      left -= b.length;
    }
    return n;
  }

  private void external(String name, TensorHeader t, DType dtype, List<Long> shape, long elements, Long bytes)
      throws InvalidInputException {
    String location = null;
    long offset = 0;
    Long length = null;
    checkExternalKeys("initializer '" + name + "'", t);
    for (StringStringEntryProto e : t.getExternalDataList()) {
      switch (e.getKey()) {
        case "location" -> location = e.getValue();
        case "offset" -> offset = number("initializer '" + name + "'", "offset", e.getValue());
        case "length" -> length = number("initializer '" + name + "'", "length", e.getValue());
        default -> { } // checksum, basepath: not needed
      }
    }
    if (location == null) {
      throw defect("initializer '" + name + "' is EXTERNAL but names no location");
    }
    String why = ExternalPaths.problem(location);
    if (why != null) {
      throw defect("initializer '" + name + "': external data location '" + location + "' " + why);
    }
    if (dtype != null && bytes == null && length != null && length != paddedLength(dtype, elements)) {
      throw defect("initializer '" + name + "': external data length " + length + ", but shape " + shape + " of "
          + dtype + " needs " + paddedLength(dtype, elements) + " (its last byte padded)");
    }
    if (dtype == null || bytes == null) {
      // its length, if given, is still checked to lie in the file (onnx refuses a length past the end)
      unlisted++;
      external.add(new OnnxMetadata.External(name, null, shape, ExternalPaths.normalize(location), offset,
          length == null ? -1 : length));
      return;
    }
    if (length != null && length.longValue() != bytes) {
      throw defect("initializer '" + name + "': external data length " + length + ", but shape " + shape + " of "
          + dtype + " needs " + bytes);
    }
    external.add(new OnnxMetadata.External(name, dtype, shape, ExternalPaths.normalize(location), offset, bytes));
  }

  /**
   * Refuses a key of {@code external_data} given twice: readers take the last (onnx, onnxruntime) or the first, so
   * the location Ferry checks could be another than the one a reader opens.
   */
  private void checkExternalKeys(String what, TensorHeader t) throws InvalidInputException {
    Set<String> keys = new HashSet<>();
    for (StringStringEntryProto e : t.getExternalDataList()) {
      if (!keys.add(e.getKey())) {
        throw defect(what + ": external data key '" + e.getKey() + "' is given twice");
      }
      if (!RECOGNIZED_KEYS.contains(e.getKey()) && !e.getKey().startsWith("ort_prepacked")) {
        unrecognized.computeIfAbsent(e.getKey(), k -> new Unrecognized(what)).count++;
      }
    }
  }

  /** The keys of {@code external_data} onnx.proto lists, which onnxruntime reads. */
  private static final Set<String> RECOGNIZED_KEYS = Set.of("location", "offset", "length", "checksum");

  /** Most unrecognized keys {@link #withUnrecognized} names; the others are counted. */
  private static final int MAX_UNRECOGNIZED_NAMED = 16;

  /**
   * Adds {@link OnnxMetadata#UNRECOGNIZED_KEYS} to the header strings when a tensor's {@code external_data} has a key
   * onnx.proto does not list: the onnx package ignores such a key, onnxruntime refuses the model ("model format
   * error!"), and the bytes a tensor holds do not depend on it, so the file is stored and the key recorded.
   */
  private Map<String, String> withUnrecognized(Map<String, String> m) {
    if (unrecognized.isEmpty()) {
      return m;
    }
    StringBuilder b = new StringBuilder();
    int named = 0;
    for (Map.Entry<String, Unrecognized> e : unrecognized.entrySet()) {
      if (named++ == MAX_UNRECOGNIZED_NAMED) {
        b.append("; ").append(unrecognized.size() - MAX_UNRECOGNIZED_NAMED).append(" more keys");
        break;
      }
      String key = e.getKey().length() > 64 ? e.getKey().substring(0, 64) + "..." : e.getKey();
      String first = e.getValue().first.length() > 256 ? e.getValue().first.substring(0, 256) + "..."
          : e.getValue().first;
      b.append(b.length() == 0 ? "" : "; ").append('\'').append(key).append("' on ").append(first)
          .append(e.getValue().count > 1 ? " and " + (e.getValue().count - 1) + " more tensors" : "");
    }
    b.append(" (onnxruntime refuses such a model: \"model format error!\"; the onnx package ignores the key)");
    m.put(OnnxMetadata.UNRECOGNIZED_KEYS, b.toString());
    return m;
  }

  /** An external data offset or length; {@code what} names the tensor for the message. */
  private long number(String what, String key, String value) throws InvalidInputException {
    try {
      // ASCII digits only, as onnxruntime reads them: Long.parseLong also takes a '+' and other scripts' digits
      long v = value.chars().allMatch(c -> c >= '0' && c <= '9') ? Long.parseLong(value) : -1;
      if (v >= 0) {
        return v;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw defect(what + ": external data " + key + " '" + value + "' is not a non-negative integer");
  }

  /** Printable ASCII as it is, every other byte (and '%') as {@code %XX}. */
  private static String percentEncoded(com.google.protobuf.ByteString b) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < b.size() && i < 200; i++) {
      int c = b.byteAt(i) & 0xff;
      out.append(c >= 0x20 && c < 0x7f && c != '%' ? String.valueOf((char) c) : String.format("%%%02X", c));
    }
    return b.size() > 200 ? out + "..." : out.toString();
  }

  /** Ferry's dtype of an ONNX element type, or null for one Ferry does not list (strings). */
  static DType dtype(int onnx) {
    return switch (onnx) {
      case 1 -> DType.F32;
      case 2 -> DType.U8;
      case 3 -> DType.I8;
      case 4 -> DType.U16;
      case 5 -> DType.I16;
      case 6 -> DType.I32;
      case 7 -> DType.I64;
      case 9 -> DType.BOOL;
      case 10 -> DType.F16;
      case 11 -> DType.F64;
      case 12 -> DType.U32;
      case 13 -> DType.U64;
      case 14 -> DType.C64;
      case 15 -> DType.C128;
      case 16 -> DType.BF16;
      case 17 -> DType.F8_E4M3;
      case 18 -> DType.F8_E4M3FNUZ;
      case 19 -> DType.F8_E5M2;
      case 20 -> DType.F8_E5M2FNUZ;
      case 21 -> DType.U4;
      case 22 -> DType.I4;
      case 23 -> DType.F4;
      case 24 -> DType.F8_E8M0;
      case 25 -> DType.U2;
      case 26 -> DType.I2;
      case 27 -> DType.F6_E2M3;
      case 28 -> DType.F6_E3M2;
      default -> null;
    };
  }

  /**
   * The bytes of {@code elements} elements of {@code t}, or null for a count of sub-byte elements that is not a whole
   * number of bytes (an odd count of 4-bit values: ONNX pads the last byte, Ferry does not list it).
   *
   * @throws ArithmeticException if the count's bits overflow a long
   */
  private static Long byteLength(DType t, long elements) {
    try {
      return t.byteLength(elements);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * The bytes ONNX stores {@code elements} elements of the sub-byte type {@code t} in when they are not a whole number
   * of bytes ({@link #byteLength} is null): packed, the last byte padded.
   */
  private static long paddedLength(DType t, long elements) {
    long bits = elements * t.bits();
    return bits / 8 + (bits % 8 == 0 ? 0 : 1);
  }

  private Map<String, String> headerStrings(ModelHeader h) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("ir_version", Long.toString(h.getIrVersion()));
    StringBuilder opsets = new StringBuilder();
    for (OperatorSetIdProto o : h.getOpsetImportList()) {
      opsets.append(opsets.length() == 0 ? "" : ", ").append(o.getDomain().isEmpty() ? "ai.onnx" : o.getDomain())
          .append('=').append(o.getVersion());
    }
    m.put("opset_import", opsets.toString());
    if (h.hasProducerName()) {
      m.put("producer_name", h.getProducerName());
    }
    if (h.hasProducerVersion()) {
      m.put("producer_version", h.getProducerVersion());
    }
    if (h.hasDomain()) {
      m.put("domain", h.getDomain());
    }
    if (h.hasModelVersion()) {
      m.put("model_version", Long.toString(h.getModelVersion()));
    }
    for (StringStringEntryProto p : h.getMetadataPropsList()) {
      m.put("metadata_props." + p.getKey(), p.getValue());
    }
    return m;
  }

  // ------------------------------------------------------------------ protobuf plumbing

  private int pushLength(String what) throws IOException {
    int len = readLength(what);
    if (len < 0 || len > in.size() - cis.getTotalBytesRead()) {
      throw defect(what + " at byte " + cis.getTotalBytesRead() + " is " + (len & 0xffffffffL) + " bytes long, past "
          + "the end of the file (" + in.size() + " bytes)");
    }
    return cis.pushLimit(len);
  }

  /**
   * The length of a length-delimited field, read as the full 64-bit varint it is: protobuf's own 32-bit read keeps
   * the low bits of a longer one (2^32 + 24 read as 24), where protobuf's C++ parser (what onnxruntime loads with)
   * refuses every length of 2^31 or more.
   */
  private int readLength(String what) throws IOException {
    long at = cis.getTotalBytesRead();
    long len = cis.readRawVarint64();
    if (len < 0 || len > Integer.MAX_VALUE) {
      throw defect(what + " at byte " + at + " has length " + Long.toUnsignedString(len) + ", not a valid protobuf "
          + "length (at most " + Integer.MAX_VALUE + ")");
    }
    return (int) len;
  }

  /** Skips one field, a length-delimited one by its full length ({@link #readLength}). */
  private void skip(int tag) throws IOException {
    if (WireFormat.getTagWireType(tag) == LEN) {
      long at = cis.getTotalBytesRead();
      int len = readLength("field " + WireFormat.getTagFieldNumber(tag));
      if (len > in.size() - cis.getTotalBytesRead()) {
        throw defect("field " + WireFormat.getTagFieldNumber(tag) + " at byte " + at + " is " + len
            + " bytes long, past the end of the file (" + in.size() + " bytes)");
      }
      cis.skipRawBytes(len);
    } else {
      cis.skipField(tag);
    }
  }

  /** Copies one field (tag and value) to {@code out}; a length-delimited one only up to {@link #MAX_HEADER_FIELD}. */
  private void copyField(int tag, CodedOutputStream out, String what) throws IOException {
    switch (WireFormat.getTagWireType(tag)) {
      case WireFormat.WIRETYPE_VARINT -> {
        out.writeUInt32NoTag(tag);
        out.writeUInt64NoTag(cis.readRawVarint64());
      }
      case WireFormat.WIRETYPE_FIXED32 -> {
        out.writeUInt32NoTag(tag);
        out.writeFixed32NoTag(cis.readRawLittleEndian32());
      }
      case WireFormat.WIRETYPE_FIXED64 -> {
        out.writeUInt32NoTag(tag);
        out.writeFixed64NoTag(cis.readRawLittleEndian64());
      }
      case LEN -> {
        long at = cis.getTotalBytesRead();
        int len = readLength(what + ": field " + WireFormat.getTagFieldNumber(tag));
        if (len > MAX_HEADER_FIELD) {
          throw defect(what + ": field " + WireFormat.getTagFieldNumber(tag) + " at byte " + at + " is "
              + (len & 0xffffffffL) + " bytes long; Ferry reads such fields up to " + MAX_HEADER_FIELD + " bytes");
        }
        out.writeUInt32NoTag(tag);
        out.writeUInt32NoTag(len);
        out.writeRawBytes(cis.readRawBytes(len));
      }
      default -> skip(tag);
    }
  }

  private interface Parser<T> {
    T parse() throws InvalidProtocolBufferException;
  }

  private <T> T parse(Parser<T> p, String what) throws InvalidInputException {
    try {
      return p.parse();
    } catch (InvalidProtocolBufferException e) {
      throw defect(what + " is not a valid ONNX protobuf: " + e.getMessage(), e);
    }
  }

  private InvalidInputException defect(String what) {
    return new InvalidInputException(in.name() + ": " + what);
  }

  private InvalidInputException defect(String what, Throwable cause) {
    return new InvalidInputException(in.name() + ": " + what, cause);
  }

  /** The file from byte 0, read with positional reads (the channel's position is left alone). */
  private static final class PositionalStream extends InputStream {
    private final FormatInput in;
    private long pos;

    PositionalStream(FormatInput in) {
      this.in = in;
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
      int n = in.channel().read(ByteBuffer.wrap(b, off, len), pos);
      if (n > 0) {
        pos += n;
      }
      return n;
    }

    @Override
    public long skip(long n) {
      long k = Math.max(0, Math.min(n, in.size() - pos));
      pos += k;
      return k;
    }
  }
}
