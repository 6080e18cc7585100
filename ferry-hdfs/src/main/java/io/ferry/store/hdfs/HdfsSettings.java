package io.ferry.store.hdfs;

import io.ferry.error.InvalidInputException;
import io.ferry.store.StoreLayers;
import java.io.File;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;

/**
 * How an HDFS store is reached, from its URI, the store settings and the environment.
 *
 * <p>The Hadoop {@link Configuration} is built as Hadoop users expect: Hadoop's defaults, then {@code core-site.xml}
 * and {@code hdfs-site.xml} from {@code $HADOOP_CONF_DIR} (or the setting {@code hdfs.conf.dir}), then Hadoop keys
 * from the URI's query ({@code hdfs://nn:8020/ferry?dfs.replication=2}), then Hadoop keys from the store settings
 * (the last wins). Hadoop keys are those starting with {@code dfs.}, {@code fs.}, {@code hadoop.}, {@code ipc.},
 * {@code io.}, {@code net.} or {@code ha.}; other keys are ignored, except Ferry's own:
 *
 * <ul>
 *   <li>{@code ferry.hdfs.sync}: {@code hsync} (default: every object and ref entry is on the DataNodes' disks before
 *       it is published) or {@code hflush} (in the DataNodes' memory on every replica; faster, survives a client or
 *       DataNode crash but not a power loss of all replicas at once);
 *   <li>{@code ferry.hdfs.lookup-threads}: threads for batched existence checks (default 8);
 *   <li>{@code ferry.hdfs.open-files}: how many objects keep an open input stream for repeated range reads (default
 *       64).
 * </ul>
 *
 * <p>Unless {@value #CLOSE_DELAY} is configured, Ferry sets it to 20 ms (Hadoop: 400 ms) and, unless configured,
 * {@value #CLOSE_RETRIES} to 10 (Hadoop: 5): small files close without a 400 ms sleep when the NameNode has not yet
 * heard from the DataNode, and the client still waits as long in all before it gives up.
 *
 * <p>Unless configured, the retries of a call to an HA nameservice are bounded ({@link #FAILOVER_BOUNDS}).
 *
 * <p>Unless {@code fs.webhdfs.impl} is given, {@code webhdfs://} stores use {@link FailoverWebHdfsFileSystem}.
 *
 * @param fileSystemUri scheme and authority, e.g. {@code hdfs://nn:8020}; no authority means {@code fs.defaultFS}
 * @param rootPath the store's directory, absolute, without a trailing slash
 * @param displayUri the URI as the user gave it, for messages
 * @param hadoopKeys the Hadoop keys given in the URI's query and the store settings, for messages
 */
record HdfsSettings(URI fileSystemUri, String rootPath, String displayUri, Configuration configuration,
    boolean hsync, int lookupThreads, int openFiles, Map<String, String> hadoopKeys) {

  /** The Hadoop key naming the webhdfs:// client class; Ferry's is Hadoop's with reads that fail over to replicas. */
  static final String WEBHDFS_IMPL = "fs.webhdfs.impl";

  /** The HDFS client's first wait before it asks again to complete a file or to add a block (Hadoop's default 400). */
  static final String CLOSE_DELAY = "dfs.client.block.write.locateFollowingBlock.initial.delay.ms";

  static final String CLOSE_RETRIES = "dfs.client.block.write.locateFollowingBlock.retries";

  /**
   * The retries of a call to an HA nameservice ({@code hdfs://nn/...}) whose NameNodes cannot be reached: Hadoop's
   * defaults (15 attempts, sleeps from 500 ms doubling up to 15 s) made each call wait about 3 minutes (214 s measured
   * on the test cluster); Ferry's (5 attempts, from 200 ms up to 2 s) about 5 s, which still rides through a NameNode
   * failover of a few seconds. Each is set only where the user did not configure it.
   */
  static final Map<String, String> FAILOVER_BOUNDS = Map.of("dfs.client.failover.max.attempts", "5",
      "dfs.client.failover.sleep.base.millis", "200", "dfs.client.failover.sleep.max.millis", "2000");

  private static final List<String> HADOOP_PREFIXES = List.of("dfs.", "fs.", "hadoop.", "ipc.", "io.", "net.", "ha.");

  /** Ferry's own keys, the only others a store URI's query may hold. */
  private static final List<String> FERRY_KEYS =
      List.of("ferry.hdfs.sync", "ferry.hdfs.lookup-threads", "ferry.hdfs.open-files", "hdfs.conf.dir");

  static HdfsSettings of(URI uri, Map<String, String> settings, Map<String, String> env)
      throws InvalidInputException {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(java.util.Locale.ROOT);
    if (!scheme.equals("hdfs") && !scheme.equals("webhdfs")) {
      throw new InvalidInputException("'" + uri + "' is not an hdfs:// or webhdfs:// URI");
    }
    if (uri.getRawUserInfo() != null) {
      // Hadoop ignores it: the store was used as the process's user, and a password in it was printed in messages
      String shown = uri.toString().replace(uri.getRawUserInfo() + "@", "***@");
      throw new InvalidInputException("store URI '" + shown + "': user info ('***@') is not supported and would be"
          + " ignored: Hadoop acts as the process's user; set HADOOP_USER_NAME, or use Kerberos, to choose another");
    }
    String path = uri.getPath();
    if (path == null || !path.startsWith("/")) {
      throw new InvalidInputException("store URI '" + uri + "' has no absolute path: expected " + scheme
          + "://namenode:port/path/to/store");
    }
    while (path.length() > 1 && path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    if (namesRoot(path)) {
      // its tmp/ would be the file system's shared /tmp, and the root an empty path that HDFS calls invalid
      throw new InvalidInputException("store URI '" + uri + "' names the root directory of the file system: give the"
          + " store a directory of its own, e.g. " + scheme + "://" + (uri.getRawAuthority() == null ? ""
          : uri.getRawAuthority()) + "/ferry");
    }
    if (uri.getRawAuthority() != null && (uri.getHost() == null || uri.getPort() == 0 || uri.getPort() > 65535)) {
      // Hadoop said "port out of range:99999" or "Incomplete HDFS URI, no host", naming neither the store nor the port
      throw new InvalidInputException("store URI '" + uri + "': '" + uri.getRawAuthority() + "' is not a NameNode's"
          + " host and port: expected a host name (letters, digits, '-' and '.') or an IP address, and a port from 1"
          + " to 65535, e.g. " + scheme + "://namenode:" + (scheme.equals("hdfs") ? "8020" : "9870") + path);
    }
    if (uri.getRawFragment() != null) {
      throw new InvalidInputException("store URI '" + uri + "': a fragment ('#" + uri.getRawFragment() + "') is not"
          + " supported: remove it");
    }
    Map<String, String> merged = new TreeMap<>();
    for (Map.Entry<String, String> e : StoreLayers.query(uri).entrySet()) {
      String key = e.getKey();
      if (key.equals(StoreLayers.SETTING)) {
        // core's option (the layers to stack over the store), read by core from the same query
        continue;
      }
      if (!HADOOP_PREFIXES.stream().anyMatch(key::startsWith) && !FERRY_KEYS.contains(key)) {
        // such a key was ignored: a misspelt option silently did nothing
        throw new InvalidInputException("store URI '" + uri + "': query option '" + key + "' is unknown: the query"
            + " takes Hadoop keys (" + String.join("*, ", HADOOP_PREFIXES) + "*), " + String.join(", ", FERRY_KEYS)
            + " and " + StoreLayers.SETTING);
      }
      merged.put(key, e.getValue());
    }
    merged.putAll(settings);

    Configuration conf = new Configuration();
    String confDir = merged.getOrDefault("hdfs.conf.dir", env.get("HADOOP_CONF_DIR"));
    if (confDir != null && !confDir.isBlank()) {
      for (String name : new String[] {"core-site.xml", "hdfs-site.xml"}) {
        File f = new File(confDir, name);
        if (f.isFile()) {
          conf.addResource(new org.apache.hadoop.fs.Path(f.toURI()));
        }
      }
    }
    Map<String, String> hadoopKeys = new TreeMap<>();
    for (Map.Entry<String, String> e : merged.entrySet()) {
      if (HADOOP_PREFIXES.stream().anyMatch(e.getKey()::startsWith)) {
        conf.set(e.getKey(), e.getValue());
        hadoopKeys.put(e.getKey(), e.getValue());
      }
    }
    if (!configured(conf, CLOSE_DELAY)) {
      // Ferry writes many small files (packs, records, ref entries). Closing one asks the NameNode to complete it,
      // which fails until a DataNode has reported the last block; the client then sleeps before asking again, 400 ms
      // by default, and that first sleep is most of a small file's write. Start at 20 ms and double as Hadoop does,
      // with retries added so that the client waits as long in all before it gives up (20 ms x (2^10 - 1) = 20.5 s
      // against Hadoop's 400 ms x (2^5 - 1) = 12.4 s).
      conf.setInt(CLOSE_DELAY, 20);
      if (!configured(conf, CLOSE_RETRIES)) {
        conf.setInt(CLOSE_RETRIES, 10);
      }
    }
    for (Map.Entry<String, String> bound : FAILOVER_BOUNDS.entrySet()) {
      if (!configured(conf, bound.getKey())) {
        conf.set(bound.getKey(), bound.getValue());
      }
    }
    if (!merged.containsKey(WEBHDFS_IMPL)) {
      conf.setClass(WEBHDFS_IMPL, FailoverWebHdfsFileSystem.class, org.apache.hadoop.fs.FileSystem.class);
    }
    String sync = merged.getOrDefault("ferry.hdfs.sync", "hsync");
    if (!sync.equals("hsync") && !sync.equals("hflush")) {
      throw new InvalidInputException("setting ferry.hdfs.sync=" + sync + " is invalid: use hsync or hflush");
    }
    int threads = positive(merged, "ferry.hdfs.lookup-threads", 8);
    int openFiles = positive(merged, "ferry.hdfs.open-files", 64);
    String authority = uri.getRawAuthority();
    URI fsUri = URI.create(scheme + "://" + (authority == null ? "" : authority) + "/");
    if (authority == null) {
      URI def = org.apache.hadoop.fs.FileSystem.getDefaultUri(conf);
      if (!scheme.equals(def.getScheme()) || def.getAuthority() == null) {
        throw new InvalidInputException("store URI '" + uri + "' names no NameNode and fs.defaultFS (" + def
            + ") is not an " + scheme + ":// file system: use " + scheme + "://namenode:port" + path);
      }
      fsUri = URI.create(scheme + "://" + def.getAuthority() + "/");
    }
    fsUri = URI.create(fsUri.toString().substring(0, fsUri.toString().length() - 1));
    return new HdfsSettings(fsUri, path, uri.toString(), conf, sync.equals("hsync"), threads, openFiles,
        Map.copyOf(hadoopKeys));
  }

  /** True if {@code path} is the root directory, as Hadoop reads it ({@code /}, {@code /a/..}). */
  private static boolean namesRoot(String path) {
    try {
      return new org.apache.hadoop.fs.Path(path).isRoot();
    } catch (IllegalArgumentException notAPath) {
      return false;
    }
  }

  /** True if {@code key} is set by the user (site files, URI, settings), not only by Hadoop's {@code *-default.xml}. */
  private static boolean configured(Configuration conf, String key) {
    String[] sources = conf.getPropertySources(key);
    return sources != null && sources.length > 0 && !sources[sources.length - 1].endsWith("-default.xml");
  }

  private static int positive(Map<String, String> m, String key, int dflt) throws InvalidInputException {
    String v = m.get(key);
    if (v == null) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n > 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    // "expected a positive integer" was said of positive integers too large for an int as well
    throw new InvalidInputException("setting " + key + "=" + v + " is invalid: expected a whole number from 1 to "
        + Integer.MAX_VALUE);
  }

  /** The settings an HDFS store reads: Ferry's own and every Hadoop key, for the CLI's check of names. */
  static io.ferry.store.SettingNames names() {
    return new io.ferry.store.SettingNames(java.util.Set.copyOf(FERRY_KEYS), HADOOP_PREFIXES);
  }
}
