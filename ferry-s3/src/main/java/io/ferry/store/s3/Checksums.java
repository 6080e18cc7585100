package io.ferry.store.s3;

import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.zip.CRC32C;

/** The CRC32C of request bodies, as S3's {@code x-amz-checksum-crc32c} header wants it (base64, big-endian). */
final class Checksums {
  private Checksums() {}

  static String crc32cBase64(byte[] body) {
    CRC32C crc = new CRC32C();
    crc.update(body);
    return encode(crc.getValue());
  }

  /** Over the remaining bytes of each part; positions are not moved. */
  static String crc32cBase64(ByteBuffer... parts) {
    CRC32C crc = new CRC32C();
    for (ByteBuffer p : parts) {
      crc.update(p.duplicate());
    }
    return encode(crc.getValue());
  }

  private static String encode(long crc) {
    byte[] b = {(byte) (crc >>> 24), (byte) (crc >>> 16), (byte) (crc >>> 8), (byte) crc};
    return Base64.getEncoder().encodeToString(b);
  }
}
