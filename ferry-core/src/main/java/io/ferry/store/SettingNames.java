package io.ferry.store;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

/**
 * The store settings a module reads ({@link StoreOptions#settings()}: {@code --store-option KEY=VALUE} on the command
 * line), so that a key no module on the class path reads, a typo such as {@code s3.endpiont}, can be refused by
 * name instead of being ignored ({@link #firstUnknown}). Each module checks the values of its own keys when it opens a
 * store; this only knows names.
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
   * The first key of {@code settings}, in the map's order, that neither the core nor any backend or layer on the class
   * path reads, or null when every key is read by some module. Only names are checked: values are checked by the
   * module that reads them.
   */
  public static String firstUnknown(Map<String, String> settings) {
    if (settings.isEmpty()) {
      return null;
    }
    List<SettingNames> known = installed();
    for (String key : settings.keySet()) {
      if (known.stream().noneMatch(k -> k.reads(key))) {
        return key;
      }
    }
    return null;
  }

  /** Every exact setting name the core and the modules on the class path read, for "did you mean" messages. */
  public static Set<String> knownNames() {
    Set<String> all = new TreeSet<>();
    installed().forEach(k -> all.addAll(k.names()));
    return all;
  }

  private static List<SettingNames> installed() {
    List<SettingNames> known = new ArrayList<>();
    known.add(of(StoreLayers.SETTING));
    ClassLoader loader = SettingNames.class.getClassLoader();
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class, loader)) {
      known.add(p.settingNames());
    }
    for (ChunkStoreLayer l : ServiceLoader.load(ChunkStoreLayer.class, loader)) {
      known.add(l.settingNames());
    }
    return known;
  }
}
