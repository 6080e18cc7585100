package io.ferry.server;

import io.ferry.chunk.Frame;
import io.ferry.codec.Codecs;
import io.ferry.codec.NoneCodec;
import io.ferry.dedup.IndexTable;
import io.ferry.error.CorruptObjectException;
import io.ferry.id.ChunkId;
import io.ferry.pack.PackIndex;
import io.ferry.server.http.HttpError;
import io.ferry.server.http.MemoryBudget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Checks an uploaded object against the id it is to be stored under, before it is stored: the two kinds of object a
 * client stores (docs/storage-format.md) are a chunk frame, whose decoded content must hash to the id (header and
 * payload checksums first, then the codec, then SHA-256: what {@code ChunkReader} checks on {@code verify}), a
 * pack, whose footer and index must parse and whose bytes must hash to the id, and a base table of the small-chunk
 * index (written by merges, in pushes and gc), which must parse and whose bytes must hash to the id. Anything else is
 * refused. Stateless.
 */
final class UploadCheck {
  static final int FRAME_MAGIC = 0x43595246; // "FRYC" little endian
  static final int PACK_MAGIC = 0x50595246; // "FRYP" little endian

  private final Codecs codecs;
  private final MemoryBudget budget;

  UploadCheck(Codecs codecs, MemoryBudget budget) {
    this.codecs = codecs;
    this.budget = budget;
  }

  /**
   * Checks that {@code body} is a frame or pack holding exactly the object {@code id}.
   *
   * @param maxRaw the largest decoded length accepted (a frame header may claim any length)
   * @throws HttpError 422 {@code chunk-mismatch} naming the id, the defect, expected and actual
   */
  void check(ChunkId id, ByteBuffer body, long maxRaw, String where) throws HttpError, IOException,
      InterruptedException {
    ByteBuffer b = body.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    int magic = b.remaining() >= 4 ? b.getInt(b.position()) : 0;
    try {
      if (magic == FRAME_MAGIC) {
        checkFrame(id, body, maxRaw, where);
      } else if (magic == PACK_MAGIC) {
        checkPack(id, body, where);
      } else if (magic == IndexTable.MAGIC) {
        IndexTable.parse(body, id, where);
        ChunkId actual = ChunkId.of(body.duplicate());
        if (!actual.equals(id)) {
          throw mismatch(id, "the small-chunk index table's bytes hash to " + actual);
        }
      } else {
        throw mismatch(id, "the body (" + body.remaining() + " bytes) is neither a chunk frame, a pack nor a"
            + " small-chunk index table (its first bytes are not the magic 'FRYC', 'FRYP' or 'FRYX')");
      }
    } catch (CorruptObjectException e) {
      throw mismatch(id, e.getMessage());
    }
  }

  private void checkFrame(ChunkId id, ByteBuffer frame, long maxRaw, String where) throws IOException, HttpError,
      InterruptedException {
    Frame.Header h = Frame.parseHeader(frame, id, where);
    if (h.frameLength() != frame.remaining()) {
      throw mismatch(id, "the body is " + frame.remaining() + " bytes, its frame header says " + h.frameLength());
    }
    if (h.rawLength() > maxRaw) {
      throw mismatch(id, "the frame holds " + h.rawLength() + " decoded bytes, more than this server takes ("
          + maxRaw + ")");
    }
    ByteBuffer payload = frame.duplicate().position(frame.position() + (int) h.payloadOffset());
    Frame.checkPayload(h, payload, id, where);
    ChunkId actual;
    if (h.codecId() == NoneCodec.ID) {
      if (h.storedLength() != h.rawLength()) {
        throw mismatch(id, "uncompressed frame stores " + h.storedLength() + " bytes for " + h.rawLength()
            + " raw bytes");
      }
      actual = ChunkId.of(payload);
    } else {
      try (MemoryBudget.Lease lease = budget.take(h.rawLength())) {
        ByteBuffer raw = Frame.decode(frame, codecs, id, where);
        actual = ChunkId.of(raw);
      }
    }
    if (!actual.equals(id)) {
      throw mismatch(id, "the frame's content hashes to " + actual);
    }
  }

  private static void checkPack(ChunkId id, ByteBuffer pack, String where) throws CorruptObjectException, HttpError {
    long size = pack.remaining();
    if (size < PackIndex.HEADER_LENGTH + PackIndex.FOOTER_LENGTH) {
      throw mismatch(id, "a pack of " + size + " bytes is shorter than its header and footer");
    }
    int p = pack.position();
    ByteBuffer footer = pack.duplicate().position(p + (int) size - PackIndex.FOOTER_LENGTH);
    long[] f = PackIndex.parseFooter(id, where, footer, size);
    ByteBuffer index = pack.duplicate().position(p + (int) f[0]).limit(p + (int) size - PackIndex.FOOTER_LENGTH);
    PackIndex.parse(id, where, index, f[0], f[1], (int) f[2]);
    ChunkId actual = ChunkId.of(pack);
    if (!actual.equals(id)) {
      throw mismatch(id, "the pack's bytes hash to " + actual);
    }
  }

  private static HttpError mismatch(ChunkId id, String why) {
    return new HttpError(422, "chunk-mismatch", "upload of object " + id + " refused, nothing stored: " + why);
  }
}
