package io.ferry.testkit;

import io.ferry.error.InvalidInputException;
import io.ferry.store.ChunkStore;
import io.ferry.store.ChunkStoreLayer;
import io.ferry.store.StoreOptions;
import java.util.Random;

/**
 * The {@code faults} store layer: a {@link FaultyChunkStore} over any store, configured by settings, so that a CLI
 * test can run a real command over a failing store ({@code --store-option layers=faults --store-option
 * faults.fail-after-bytes=100000}). Settings: {@code faults.fail-after-bytes} (simulated full disk), {@code
 * faults.corrupt-reads-seed} (flip one byte of every read).
 */
public final class FaultsLayer implements ChunkStoreLayer {
  @Override
  public String name() {
    return "faults";
  }

  @Override
  public ChunkStore wrap(ChunkStore inner, StoreOptions options) throws InvalidInputException {
    FaultyChunkStore f = new FaultyChunkStore(inner);
    String full = options.settings().get("faults.fail-after-bytes");
    if (full != null) {
      f.failAfterBytes(parse("faults.fail-after-bytes", full));
    }
    String seed = options.settings().get("faults.corrupt-reads-seed");
    if (seed != null) {
      f.corruptReads(new Random(parse("faults.corrupt-reads-seed", seed)));
    }
    return f;
  }

  private static long parse(String key, String value) throws InvalidInputException {
    try {
      long v = Long.parseLong(value.trim());
      if (v < 0) {
        throw new NumberFormatException();
      }
      return v;
    } catch (NumberFormatException e) {
      throw new InvalidInputException("store setting " + key + " must be a non-negative integer, got '" + value + "'");
    }
  }

  @Override
  public io.ferry.store.SettingNames settingNames() {
    return io.ferry.store.SettingNames.of("faults.fail-after-bytes", "faults.corrupt-reads-seed");
  }
}
