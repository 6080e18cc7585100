package io.ferry.store;

import java.io.IOException;

/**
 * A decorator stacked over a store's {@link ChunkStore}: a cache tier, a fault injector in tests, later encryption at
 * rest. Found with {@link java.util.ServiceLoader} by its {@link #name}, and stacked by {@link StoreLayers} when a
 * store is opened with the {@value StoreLayers#SETTING} setting. A layer sees chunk objects only; refs and records
 * pass through untouched, so the core's protocols are the same over any stack.
 *
 * <p>A layer must keep the {@link ChunkStore} contract: what it returns for an object is the object's bytes or an
 * error, never other bytes; it closes the store it wraps when it is closed.
 */
public interface ChunkStoreLayer {
  /** The name users give in the {@value StoreLayers#SETTING} setting, e.g. {@code cache}. */
  String name();

  /**
   * Wraps {@code inner}.
   *
   * @param options the store's options; a layer reads its own settings from them, named {@code <name>.<key>}
   * @throws io.ferry.error.InvalidInputException if the layer's settings are missing or wrong (names the setting)
   */
  ChunkStore wrap(ChunkStore inner, StoreOptions options) throws IOException;

  /** The store settings this layer reads (named {@code <name>.<key>}); none by default. */
  default SettingNames settingNames() {
    return SettingNames.NONE;
  }
}
