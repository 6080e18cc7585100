package io.ferry.store.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import java.net.URI;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.auth.credentials.ContainerCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;

/**
 * Without credentials, opening a store says in one line what to set, not the SDK's provider chain; credentials written
 * into the endpoint are refused without being printed.
 */
class S3CredentialsTest {
  @Test
  void missingCredentialsSayWhatToSet() throws Exception {
    LocalS3 s3 = LocalS3.shared();
    URI uri = LocalS3.freshStoreUri("nocreds");
    // the SDK's own providers, finding nothing: a profile that does not exist, and no container role
    AwsCredentialsProviderChain none = AwsCredentialsProviderChain.of(
        ProfileCredentialsProvider.create("ferry-test-no-such-profile"), ContainerCredentialsProvider.builder().build());
    assertThatThrownBy(() -> S3Backend.open(uri, s3.options(true), n -> null, none).close())
        .isInstanceOf(InvalidInputException.class)
        .satisfies(e -> {
          String m = e.getMessage();
          assertThat(m).contains("no AWS credentials found for " + uri).contains("AWS_ACCESS_KEY_ID")
              .contains("AWS_SECRET_ACCESS_KEY").contains("AWS_PROFILE").contains("--s3-endpoint")
              .doesNotContain("\n").doesNotContain("Provider").doesNotContain("software.amazon")
              .doesNotContain("Exception");
          assertThat(m.length()).as("one line: %s", m).isLessThan(400);
        });
  }

  /**
   * An endpoint with user info ({@code https://KEY:SECRET@host}) was accepted, the SDK ignored the credentials in it,
   * and every message that names the store (each failed request, each corrupt object) printed the secret.
   */
  @Test
  void credentialsInTheEndpointAreRefusedAndNeverPrinted() {
    for (String endpoint : List.of("http://AKIAEXAMPLE:wJalrXUtnFEMIsecret@127.0.0.1:9000",
        "https://wJalrXUtnFEMIsecret@s3.example.org/", "ftp://AKIAEXAMPLE:wJalrXUtnFEMIsecret@host",
        "http://AKIAEXAMPLE:wJalrXUtnFEMIsecret@", "http://AKIAEXAMPLE:wJalr XUtnFEMIsecret@host",
        "http://AKIAEXAMPLE:wJalrXUtn/K7MDENG/bPxsecret@127.0.0.1:9000")) {
      assertThatThrownBy(() -> S3Settings.from(Map.of(S3Settings.ENDPOINT, endpoint), n -> null)).as(endpoint)
          .isInstanceOf(InvalidInputException.class)
          .satisfies(e -> assertThat(e.getMessage()).contains("S3 endpoint '").contains("***@")
              .doesNotContain("secret").doesNotContain("AKIAEXAMPLE"))
          .satisfies(e -> {
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
              assertThat(String.valueOf(c.getMessage())).as("a cause's message").doesNotContain("secret");
            }
          });
    }
    assertThatThrownBy(() -> S3Settings.from(Map.of(), n -> n.equals(S3Settings.ENDPOINT_ENV)
        ? "http://AKIAEXAMPLE:wJalrXUtnFEMIsecret@127.0.0.1:9000" : null))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("credentials do not go in the endpoint")
        .hasMessageContaining("'http://***@127.0.0.1:9000'").hasMessageNotContaining("secret");
  }
}
