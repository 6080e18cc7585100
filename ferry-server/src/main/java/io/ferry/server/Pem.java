package io.ferry.server;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;

/** Reads a PEM certificate chain and its PKCS#8 private key into an in-memory key store for TLS. */
final class Pem {
  private Pem() {}

  /**
   * A PKCS#12 key store holding the key under alias {@code ferry}, protected by {@code password}.
   *
   * @throws IOException naming the file and what is wrong with it
   */
  static KeyStore keyStore(Path certFile, Path keyFile, char[] password) throws IOException {
    for (Path f : new Path[] {certFile, keyFile}) {
      if (Files.isDirectory(f)) {
        throw new io.ferry.error.InvalidInputException("TLS " + (f == certFile ? "certificate " : "key ") + f
            + " is a directory, not a PEM file");
      }
    }
    Collection<? extends Certificate> chain;
    try {
      chain = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(Files.readAllBytes(certFile)));
    } catch (GeneralSecurityException e) {
      throw new IOException("TLS certificate " + certFile + " is not a PEM X.509 certificate: " + e.getMessage(), e);
    }
    if (chain.isEmpty()) {
      throw new IOException("TLS certificate " + certFile + " holds no certificate");
    }
    PrivateKey key = privateKey(keyFile);
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      ks.setKeyEntry("ferry", key, password, chain.toArray(new Certificate[0]));
      return ks;
    } catch (GeneralSecurityException e) {
      throw new IOException("TLS key " + keyFile + " does not go with certificate " + certFile + ": "
          + e.getMessage(), e);
    }
  }

  private static PrivateKey privateKey(Path keyFile) throws IOException {
    String text = Files.readString(keyFile, StandardCharsets.US_ASCII);
    String begin = "-----BEGIN PRIVATE KEY-----";
    String end = "-----END PRIVATE KEY-----";
    int a = text.indexOf(begin);
    int b = text.indexOf(end);
    if (a < 0 || b < a) {
      String kind = text.contains("BEGIN RSA PRIVATE KEY") || text.contains("BEGIN EC PRIVATE KEY")
          ? " (it is a PKCS#1/SEC1 key: convert it with openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8)"
          : text.contains("ENCRYPTED") ? " (an encrypted key: give an unencrypted PKCS#8 key)" : "";
      throw new IOException("TLS key " + keyFile + " has no '" + begin + "' block" + kind);
    }
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(text.substring(a + begin.length(), b));
    } catch (IllegalArgumentException e) {
      throw new IOException("TLS key " + keyFile + " is not valid base64: " + e.getMessage(), e);
    }
    for (String alg : new String[] {"RSA", "EC", "Ed25519", "Ed448"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException e) {
        // try the next algorithm
      }
    }
    throw new IOException("TLS key " + keyFile + " is not an RSA, EC or EdDSA PKCS#8 private key");
  }
}
