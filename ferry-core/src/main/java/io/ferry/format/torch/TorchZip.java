package io.ferry.format.torch;

import io.ferry.error.InvalidInputException;
import io.ferry.format.NotATensorFileException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The entries of a zip archive as {@code torch.save} writes it, read from its central directory with bounded
 * positional reads. Stricter than a general zip reader, as the archive must map onto a layout exactly: a single disk;
 * every entry stored (not compressed), unencrypted, with a safe relative name (no {@code ..}, {@code .} or empty
 * segment, no leading {@code /}, no backslash or NUL) that appears once; each entry's local header agrees with the
 * central directory; the entries (local header, data, data descriptor) follow each other from byte 0 without gap or
 * overlap up to the central directory, which is followed by the end records and nothing else. Zip64 is read.
 */
public final class TorchZip {
  private static final int LOCAL = 0x04034b50;
  private static final int CENTRAL = 0x02014b50;
  private static final int END = 0x06054b50;
  private static final int END64 = 0x06064b50;
  private static final int LOCATOR64 = 0x07064b50;
  private static final int DESCRIPTOR = 0x08074b50;
  private static final long U32 = 0xffffffffL;

  /**
   * One entry.
   *
   * @param name its name
   * @param start where its local header starts
   * @param dataStart where its bytes start
   * @param dataEnd where its bytes end
   * @param end where the entry ends (after its data descriptor, if any)
   * @param crc the CRC-32 of its bytes, from the central directory
   */
  public record Entry(String name, long start, long dataStart, long dataEnd, long end, long crc) {
    /** The entry's size in bytes. */
    public long size() {
      return dataEnd - dataStart;
    }
  }

  private final List<Entry> entries;
  private final long centralDirectory;

  private TorchZip(List<Entry> entries, long centralDirectory) {
    this.entries = List.copyOf(entries);
    this.centralDirectory = centralDirectory;
  }

  /** The entries in file order. */
  public List<Entry> entries() {
    return entries;
  }

  /** Where the central directory starts: everything from there to the end of the file is directory and end records. */
  public long centralDirectory() {
    return centralDirectory;
  }

  /** Whether the first bytes of a file are a zip local header. */
  public static boolean isZip(ByteBuffer head) {
    return head.remaining() >= 4 && head.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt() == LOCAL;
  }

  /**
   * Reads and checks the archive's structure (not its data).
   *
   * @throws InvalidInputException naming the file, the entry or offset and the rule broken
   */
  public static TorchZip read(ByteSource in) throws IOException {
    String f = in.name();
    long size = in.size();
    if (size < 22) {
      throw new InvalidInputException(f + ": " + size + " bytes is too short for a zip archive (at least 22)");
    }
    int tailLen = (int) Math.min(size, 22 + 0xffff);
    ByteBuffer tail = read(in, size - tailLen, tailLen);
    int eocd = -1;
    for (int p = tailLen - 22; p >= 0; p--) {
      if (tail.getInt(p) == END && p + 22 + (tail.getShort(p + 20) & 0xffff) == tailLen) {
        eocd = p;
        break;
      }
    }
    if (eocd < 0) {
      throw new InvalidInputException(f + ": no zip end-of-central-directory record ends the file (not a zip"
          + " archive, truncated, or bytes appended; " + TorchCheckpoint.OPAQUE + ")");
    }
    long eocdAt = size - tailLen + eocd;
    if ((tail.getShort(eocd + 4) & 0xffff) != 0 || (tail.getShort(eocd + 6) & 0xffff) != 0
        && (tail.getShort(eocd + 6) & 0xffff) != 0xffff) {
      throw new InvalidInputException(f + ": the zip archive spans several disks (end record at byte " + eocdAt + ")");
    }
    long count = tail.getShort(eocd + 10) & 0xffff;
    long cdSize = tail.getInt(eocd + 12) & U32;
    long cdStart = tail.getInt(eocd + 16) & U32;
    long cdEnd = eocdAt;
    if (eocd >= 20 && tail.getInt(eocd - 20) == LOCATOR64) {
      long locatorAt = eocdAt - 20;
      long end64 = tail.getLong(eocd - 20 + 8);
      if (tail.getInt(eocd - 20 + 4) != 0 || tail.getInt(eocd - 20 + 16) != 1) {
        throw new InvalidInputException(f + ": the zip archive spans several disks (zip64 locator at byte "
            + locatorAt + ")");
      }
      if (end64 < 0 || end64 > locatorAt - 56) {
        throw new InvalidInputException(f + ": zip64 end record offset " + end64 + " (from the locator at byte "
            + locatorAt + ") is outside the file");
      }
      ByteBuffer e = read(in, end64, 56);
      long recordSize = e.getLong(4);
      if (e.getInt(0) != END64 || recordSize < 44 || end64 + 12 + recordSize != locatorAt) {
        throw new InvalidInputException(f + ": no valid zip64 end record at byte " + end64 + " (it must end where"
            + " the locator at byte " + locatorAt + " starts)");
      }
      if (e.getInt(16) != 0 || e.getInt(20) != 0) {
        throw new InvalidInputException(f + ": the zip archive spans several disks (zip64 end record at byte "
            + end64 + ")");
      }
      count = e.getLong(32);
      cdSize = e.getLong(40);
      cdStart = e.getLong(48);
      cdEnd = end64;
      if (count != e.getLong(24)) {
        throw new InvalidInputException(f + ": zip64 end record counts " + e.getLong(24) + " entries on this disk"
            + " and " + count + " in all");
      }
    } else if (count != (tail.getShort(eocd + 8) & 0xffff)) {
      throw new InvalidInputException(f + ": zip end record counts " + (tail.getShort(eocd + 8) & 0xffff)
          + " entries on this disk and " + count + " in all");
    }
    if (count < 0 || count > TorchLimits.MAX_ENTRIES) {
      throw new InvalidInputException(f + ": the zip archive has " + Long.toUnsignedString(count)
          + " entries, over the limit of " + TorchLimits.MAX_ENTRIES);
    }
    if (cdSize < 0 || cdSize > TorchLimits.MAX_CENTRAL_DIRECTORY_BYTES) {
      throw new InvalidInputException(f + ": the zip central directory is " + Long.toUnsignedString(cdSize)
          + " bytes, over the limit of " + TorchLimits.MAX_CENTRAL_DIRECTORY_BYTES);
    }
    if (cdStart < 0 || cdStart + cdSize != cdEnd) {
      throw new InvalidInputException(f + ": the zip central directory at byte " + Long.toUnsignedString(cdStart)
          + " of " + cdSize + " bytes does not end where the end records start (byte " + cdEnd + ")");
    }
    ByteBuffer cd = read(in, cdStart, (int) cdSize);
    List<Central> centrals = new ArrayList<>();
    Set<String> names = new HashSet<>();
    int p = 0;
    for (long i = 0; i < count; i++) {
      Central c = central(f, cd, p, cdStart);
      if (!names.add(c.name)) {
        throw new InvalidInputException(f + ": zip entry '" + Unpickler.printable(c.name) + "' appears twice");
      }
      centrals.add(c);
      p = c.next;
    }
    if (p != cd.limit()) {
      throw new InvalidInputException(f + ": the zip central directory has " + (cd.limit() - p) + " bytes after its "
          + count + " entries (at byte " + (cdStart + p) + ")");
    }
    if (names.stream().anyMatch(TorchZip::torchScriptEntry)) {
      throw new NotATensorFileException(f + ": a TorchScript archive (torch.jit.save: code and constants.pkl), not a"
          + " torch.save checkpoint");
    }
    for (Central c : centrals) {
      checkStored(f, c);
    }
    List<Entry> entries = new ArrayList<>();
    for (Central c : centrals) {
      entries.add(local(in, c, cdStart));
    }
    entries.sort(Comparator.comparingLong(Entry::start));
    long at = 0;
    for (Entry e : entries) {
      if (e.start() != at) {
        throw new InvalidInputException(f + ": zip entry '" + Unpickler.printable(e.name()) + "' starts at byte "
            + e.start() + " but " + (e.start() < at ? "the entry before it ends at byte " + at + " (overlapping entries)"
            : "bytes [" + at + ", " + e.start() + ") belong to no entry"));
      }
      at = e.end();
    }
    if (at != cdStart) {
      throw new InvalidInputException(f + ": bytes [" + at + ", " + cdStart + ") between the last zip entry and the"
          + " central directory belong to no entry");
    }
    return new TorchZip(entries, cdStart);
  }

  /**
   * Whether an entry is one of a TorchScript archive's ({@code <dir>/constants.pkl}, {@code <dir>/code/…}), which
   * {@code torch.save} never writes.
   */
  private static boolean torchScriptEntry(String name) {
    int slash = name.indexOf('/');
    return slash > 0 && (name.substring(slash).equals("/constants.pkl") || name.startsWith("/code/", slash));
  }

  /** A central directory header, read and bounds-checked; {@link #checkStored} checks what torch.save writes. */
  private record Central(String name, byte[] rawName, int flags, int method, int disk, long crc, long compressedSize,
      long size, long offset, int next) {}

  private static Central central(String f, ByteBuffer cd, int p, long cdStart) throws InvalidInputException {
    long at = cdStart + p;
    if (cd.limit() - p < 46 || cd.getInt(p) != CENTRAL) {
      throw new InvalidInputException(f + ": no zip central directory header at byte " + at + " (truncated or"
          + " corrupt directory)");
    }
    int flags = cd.getShort(p + 8) & 0xffff;
    int method = cd.getShort(p + 10) & 0xffff;
    long crc = cd.getInt(p + 16) & U32;
    long csize = cd.getInt(p + 20) & U32;
    long usize = cd.getInt(p + 24) & U32;
    int nameLen = cd.getShort(p + 28) & 0xffff;
    int extraLen = cd.getShort(p + 30) & 0xffff;
    int commentLen = cd.getShort(p + 32) & 0xffff;
    int disk = cd.getShort(p + 34) & 0xffff;
    long offset = cd.getInt(p + 42) & U32;
    int next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cd.limit() || next < 0) {
      throw new InvalidInputException(f + ": zip central directory header at byte " + at + " runs past the"
          + " directory's end");
    }
    byte[] raw = new byte[nameLen];
    cd.get(p + 46, raw);
    String name = name(f, raw, at);
    String what = f + ": zip entry '" + Unpickler.printable(name) + "'";
    int e = p + 46 + nameLen;
    int eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      int id = cd.getShort(e) & 0xffff;
      int len = cd.getShort(e + 2) & 0xffff;
      if (e + 4 + len > eEnd) {
        throw new InvalidInputException(what + ": extra field at byte " + (cdStart + e) + " runs past its header");
      }
      if (id == 1) {
        int q = e + 4;
        if (usize == U32) {
          usize = need64(what, cd, q, e + 4 + len);
          q += 8;
        }
        if (csize == U32) {
          csize = need64(what, cd, q, e + 4 + len);
          q += 8;
        }
        if (offset == U32) {
          offset = need64(what, cd, q, e + 4 + len);
        }
      }
      e += 4 + len;
    }
    return new Central(name, raw, flags, method, disk, crc, csize, usize, offset, next);
  }

  /** Refuses an entry torch.save would not write: on another disk, encrypted, compressed, or of an absurd size. */
  private static void checkStored(String f, Central c) throws InvalidInputException {
    String what = f + ": zip entry '" + Unpickler.printable(c.name) + "'";
    if (c.disk != 0 && c.disk != 0xffff) {
      throw new InvalidInputException(what + " is on disk " + c.disk + " (multi-disk archives are not read)");
    }
    if ((c.flags & 0x2041) != 0) {
      throw new InvalidInputException(what + " is encrypted (flags 0x" + Integer.toHexString(c.flags) + ")");
    }
    if (c.method != 0) {
      throw new InvalidInputException(what + " is compressed (method " + c.method + "); torch.save stores every"
          + " entry uncompressed, and Ferry reads only such archives (" + TorchCheckpoint.OPAQUE + ")");
    }
    if (c.compressedSize != c.size) {
      throw new InvalidInputException(what + " is stored but its compressed size " + c.compressedSize
          + " differs from its size " + c.size);
    }
    if (c.size < 0 || c.offset < 0) {
      throw new InvalidInputException(what + ": size or offset over 2^63");
    }
  }

  private static long need64(String what, ByteBuffer cd, int q, int end) throws InvalidInputException {
    if (q + 8 > end) {
      throw new InvalidInputException(what + ": its zip64 extra field is too short");
    }
    return cd.getLong(q);
  }

  private static String name(String f, byte[] raw, long at) throws InvalidInputException {
    String name;
    try {
      name = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
    } catch (CharacterCodingException e) {
      throw new InvalidInputException(f + ": zip entry name at byte " + at + " is not UTF-8");
    }
    String why = null;
    if (raw.length == 0) {
      why = "is empty";
    } else if (raw.length > TorchLimits.MAX_ENTRY_NAME_BYTES) {
      why = "is over " + TorchLimits.MAX_ENTRY_NAME_BYTES + " bytes";
    } else if (name.startsWith("/")) {
      why = "is an absolute path";
    } else if (name.indexOf('\\') >= 0 || name.indexOf('\0') >= 0) {
      why = "holds a backslash or NUL";
    } else if (name.length() >= 2 && name.charAt(1) == ':') {
      why = "starts with a drive letter";
    } else {
      for (String seg : name.split("/", -1)) {
        if (seg.equals("..") || seg.equals(".") || seg.isEmpty()) {
          why = "has a '" + seg + "' segment";
          break;
        }
      }
    }
    if (why != null) {
      throw new InvalidInputException(f + ": zip entry name '" + Unpickler.printable(name) + "' (central directory at"
          + " byte " + at + ") " + why + "; entry names must be relative paths without '..'");
    }
    return name;
  }

  private static Entry local(ByteSource in, Central c, long cdStart) throws IOException {
    String what = in.name() + ": zip entry '" + Unpickler.printable(c.name) + "'";
    if (c.offset > cdStart - 30) {
      throw new InvalidInputException(what + ": local header at byte " + c.offset + " is not before the central"
          + " directory (byte " + cdStart + ")");
    }
    ByteBuffer h = read(in, c.offset, 30);
    if (h.getInt(0) != LOCAL) {
      throw new InvalidInputException(what + ": no local header at byte " + c.offset);
    }
    int flags = h.getShort(6) & 0xffff;
    int method = h.getShort(8) & 0xffff;
    int nameLen = h.getShort(26) & 0xffff;
    int extraLen = h.getShort(28) & 0xffff;
    long dataStart = c.offset + 30 + nameLen + extraLen;
    if (dataStart > cdStart) {
      throw new InvalidInputException(what + ": local header at byte " + c.offset + " runs into the central"
          + " directory");
    }
    byte[] raw = new byte[nameLen];
    read(in, c.offset + 30, nameLen).get(raw);
    if (!java.util.Arrays.equals(raw, c.rawName)) {
      throw new InvalidInputException(what + ": the local header at byte " + c.offset + " names another entry");
    }
    if (method != 0 || (flags & 0x0008) != (c.flags & 0x0008)) {
      throw new InvalidInputException(what + ": the local header at byte " + c.offset + " disagrees with the central"
          + " directory (method " + method + ", flags 0x" + Integer.toHexString(flags) + ")");
    }
    // a stored entry's compressed and uncompressed sizes are its size; with a data descriptor (bit 3) the local
    // header may leave CRC and sizes zero, else they must be the directory's (0xffffffff: in the zip64 extra field)
    long lcrc = h.getInt(14) & U32;
    long lcsize = h.getInt(18) & U32;
    long lsize = h.getInt(22) & U32;
    boolean deferred = (flags & 0x0008) != 0 && lcrc == 0 && lcsize == 0 && lsize == 0;
    if (!deferred && (lcrc != c.crc || lcsize != U32 && lcsize != c.size || lsize != U32 && lsize != c.size)) {
      throw new InvalidInputException(what + ": the local header at byte " + c.offset + " gives sizes " + lcsize
          + " (compressed) and " + lsize + " and CRC " + Long.toHexString(lcrc) + ", the central directory "
          + c.size + " and " + Long.toHexString(c.crc));
    }
    if (c.size > cdStart - dataStart) {
      throw new InvalidInputException(what + ": its " + c.size + " bytes from byte " + dataStart + " run past the"
          + " central directory at byte " + cdStart + " (truncated archive?)");
    }
    long dataEnd = dataStart + c.size;
    long end = dataEnd;
    if ((flags & 0x0008) != 0) {
      int len = (int) Math.min(24, cdStart - dataEnd);
      ByteBuffer d = read(in, dataEnd, len);
      int q = len >= 4 && d.getInt(0) == DESCRIPTOR ? 4 : 0;
      int need = -1;
      // 32-bit sizes unless the entry needs zip64; a zip64 writer may use 64-bit sizes for any entry
      for (boolean wide : new boolean[] {false, true}) {
        int n = q + 4 + (wide ? 16 : 8);
        if (n <= len && (d.getInt(q) & U32) == c.crc
            && (wide ? d.getLong(q + 4) == c.size && d.getLong(q + 12) == c.size
                : (d.getInt(q + 4) & U32) == c.size && (d.getInt(q + 8) & U32) == c.size)) {
          need = n;
          break;
        }
      }
      if (need < 0) {
        throw new InvalidInputException(what + ": no data descriptor with its size " + c.size + " and CRC "
            + Long.toHexString(c.crc) + " follows its data at byte " + dataEnd);
      }
      end = dataEnd + need;
    }
    return new Entry(c.name, c.offset, dataStart, dataEnd, end, c.crc);
  }

  static ByteBuffer read(ByteSource in, long position, int n) throws IOException {
    if (position < 0 || n < 0 || position > in.size() - n) {
      throw new InvalidInputException(in.name() + ": bytes [" + position + ", " + (position + n) + ") lie outside the"
          + " file of " + in.size() + " bytes (truncated?)");
    }
    ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    in.readFully(b, position);
    return b.flip();
  }
}
