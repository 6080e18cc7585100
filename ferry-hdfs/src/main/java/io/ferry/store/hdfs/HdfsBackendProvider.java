package io.ferry.store.hdfs;

import io.ferry.error.InvalidInputException;
import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.URI;

/**
 * Opens {@link HdfsBackend}s for {@code hdfs://namenode:port/path} and {@code webhdfs://namenode:httpport/path}.
 * Registered for {@link java.util.ServiceLoader} in {@code META-INF/services}. See {@link HdfsSettings} for the
 * Hadoop configuration and the settings it reads.
 */
public final class HdfsBackendProvider implements BackendProvider {
  /** Creates the provider; it holds no state. */
  public HdfsBackendProvider() {}

  /** True for {@code hdfs} and {@code webhdfs}. */
  @Override
  public boolean supports(String scheme) {
    return "hdfs".equalsIgnoreCase(scheme) || "webhdfs".equalsIgnoreCase(scheme);
  }

  /**
   * Opens the store; see {@link HdfsBackend#open}.
   *
   * @throws InvalidInputException if the URI is not an hdfs:// or webhdfs:// URI with a path, or as {@link
   *     HdfsBackend#open}
   */
  @Override
  public Backend open(URI uri, StoreOptions options) throws IOException {
    return HdfsBackend.open(uri, options);
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return HdfsSettings.names();
  }
}
