package io.ferry.store.http;

import io.ferry.store.Backend;
import io.ferry.store.BackendProvider;
import io.ferry.store.StoreOptions;
import java.io.IOException;
import java.net.URI;

/**
 * Opens {@link HttpBackend}s for {@code http://} and {@code https://} URIs (one Ferry server, or several:
 * {@code http://a:8080,http://b:8080}). Registered for {@link java.util.ServiceLoader} in {@code META-INF/services}.
 * Options: see {@link HttpSettings}; the token comes from the {@code http.token} setting, else {@code FERRY_TOKEN}.
 */
public final class HttpBackendProvider implements BackendProvider {
  /** Creates the provider; it holds no state. */
  public HttpBackendProvider() {}

  /** True for {@code http} and {@code https}. */
  @Override
  public boolean supports(String scheme) {
    return "http".equalsIgnoreCase(scheme) || "https".equalsIgnoreCase(scheme);
  }

  @Override
  public Backend open(URI uri, StoreOptions options) throws IOException {
    return HttpBackend.open(uri, options, System.getenv());
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return HttpSettings.names();
  }
}
