package io.ferry.store.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import java.net.URI;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.auth.credentials.ContainerCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;

/** Without credentials, opening a store says in one line what to set, not the SDK's provider chain. */
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
}
