package io.ferry.store;

import io.ferry.error.InvalidInputException;
import io.ferry.repo.Suggestions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

/**
 * The store settings a module reads ({@link StoreOptions#settings()}: {@code --store-option KEY=VALUE} on the command
 * line), so that a key no module on the class path reads, a typo such as {@code s3.endpiont}, is refused by name
 * instead of being ignored. Each module checks the values of its own keys when it opens a store; this only knows names.
 *
 * @param names keys read exactly ({@code s3.endpoint}); also the candidates of "did you mean"
 * @param prefixes key prefixes read whole ({@code dfs.} for Hadoop's keys, {@code cassandra.dc.} for datacenters)
 */
public record SettingNames(Set<String> names, List<String> prefixes) {
  /** No settings: a module that reads none. */
  public static final SettingNames NONE = new SettingNames(Set.of(), List.of());

  public SettingNames {
    names = Set.copyOf(Objects.requireNonNull(names, "names"));
    prefixes = List.copyOf(Objects.requireNonNull(prefixes, "prefixes"));
  }

  /** Exactly these keys. */
  public static SettingNames of(String... names) {
    return new SettingNames(Set.of(names), List.of());
  }

  /** Whether {@code key} is one of these settings. */
  public boolean reads(String key) {
    if (names.contains(key)) {
      return true;
    }
    for (String p : prefixes) {
      if (key.startsWith(p) && key.length() > p.length()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Refuses a setting that neither the core nor any backend or layer on the class path reads, naming it and the
   * nearest known names. Only names are checked: values are checked by the module that reads them.
   *
   * @param what how the user gave the settings, for the message ({@code --store-option})
   * @throws InvalidInputException for the first unknown key, in the map's order
   */
  public static void checkKnown(Map<String, String> settings, String what) throws InvalidInputException {
    if (settings.isEmpty()) {
      return;
    }
    List<SettingNames> known = new ArrayList<>();
    known.add(of(StoreLayers.SETTING));
    ClassLoader loader = SettingNames.class.getClassLoader();
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class, loader)) {
      known.add(p.settingNames());
    }
    for (ChunkStoreLayer l : ServiceLoader.load(ChunkStoreLayer.class, loader)) {
      known.add(l.settingNames());
    }
    for (String key : settings.keySet()) {
      if (known.stream().noneMatch(k -> k.reads(key))) {
        Set<String> all = new TreeSet<>();
        known.forEach(k -> all.addAll(k.names()));
        throw new InvalidInputException(what + " " + key + ": no store module here reads a setting '" + key + "'"
            + Suggestions.didYouMean(key, all) + " (each store's settings: docs/s3.md, hdfs.md, cassandra.md, http-store.md, redis.md)");
      }
    }
  }
}
