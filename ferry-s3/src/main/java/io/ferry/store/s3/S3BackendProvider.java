package io.ferry.store.s3;

import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.URI;

/**
 * Opens {@link S3Backend}s for {@code s3://bucket/prefix} URIs. Registered for {@link java.util.ServiceLoader} in
 * {@code META-INF/services}. Settings: see {@link S3Settings}; the endpoint may also come from {@code
 * FERRY_S3_ENDPOINT}; credentials and region from the AWS SDK's default chains.
 */
public final class S3BackendProvider implements BackendProvider {
  /** Creates the provider; it holds no state. */
  public S3BackendProvider() {}

  /** True for {@code s3}. */
  @Override
  public boolean supports(String scheme) {
    return "s3".equalsIgnoreCase(scheme);
  }

  @Override
  public Backend open(URI uri, StoreOptions options) throws IOException {
    return S3Backend.open(uri, options, System::getenv);
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return S3Settings.names();
  }
}
