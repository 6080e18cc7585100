package io.ferry.store.cassandra;

import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.URI;

/**
 * Opens {@link CassandraBackend}s for {@code cassandra://host1,host2:9042/keyspace} URIs. Registered for {@link
 * java.util.ServiceLoader} in {@code META-INF/services}. Options: see {@link CassandraSettings}.
 */
public final class CassandraBackendProvider implements BackendProvider {
  /** Creates the provider; it holds no state. */
  public CassandraBackendProvider() {}

  /** True for {@code cassandra}. */
  @Override
  public boolean supports(String scheme) {
    return "cassandra".equalsIgnoreCase(scheme);
  }

  @Override
  public Backend open(URI uri, StoreOptions options) throws IOException {
    return CassandraBackend.open(uri, options);
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return CassandraSettings.names();
  }
}
