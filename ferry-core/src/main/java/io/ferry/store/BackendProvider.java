package io.ferry.store;

import java.io.IOException;
import java.net.URI;

/**
 * Opens backends for one or more URI schemes. Found with {@link java.util.ServiceLoader}, so that a backend module on
 * the class path (ferry-hdfs, ferry-s3, ...) adds its schemes without core knowing it.
 */
public interface BackendProvider {
  /** Whether this provider opens URIs of the scheme, e.g. {@code file}. */
  boolean supports(String scheme);

  /**
   * Opens the store.
   *
   * @throws io.ferry.error.InvalidInputException if the store does not exist and {@link StoreOptions#create()} is
   *     false, or the URI is not usable (names the URI and why)
   */
  Backend open(URI uri, StoreOptions options) throws IOException;

  /**
   * The store settings this provider's backends read, so that a command line can refuse a key no module reads
   * ({@link SettingNames#firstUnknown}); none by default.
   */
  default SettingNames settingNames() {
    return SettingNames.NONE;
  }
}
