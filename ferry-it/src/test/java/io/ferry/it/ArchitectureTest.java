package io.ferry.it;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.syntax.ArchRuleDefinition;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The architecture rules of docs/architecture.md, checked on the compiled main classes of every module: no package
 * cycles in core, core knows no backend and no CLI, backends do not know each other, the CLI uses only the public API.
 */
class ArchitectureTest {
  private static JavaClasses classes;

  /** Packages that are not ferry-core. */
  private static final String[] NOT_CORE = {"io.ferry.cli..", "io.ferry.store.hdfs..", "io.ferry.store.s3..",
      "io.ferry.store.redis..", "io.ferry.store.cassandra..", "io.ferry.store.http..", "io.ferry.onnx..",
      "io.ferry.testkit..", "io.ferry.bench..", "io.ferry.it.."};

  @BeforeAll
  static void importClasses() {
    // main classes of every module, from class directories or jars (the reactor may hand either), no test classes
    classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .withImportOption(location -> !location.contains("-tests.jar")).importPackages("io.ferry");
  }

  @Test
  void theRulesSeeEveryModule() {
    for (String c : new String[] {"io.ferry.repo.Repository", "io.ferry.cli.FerryCli",
        "io.ferry.store.hdfs.HdfsBackend", "io.ferry.store.s3.S3Backend", "io.ferry.store.redis.RedisChunkCache",
        "io.ferry.store.cassandra.CassandraBackend", "io.ferry.store.http.HttpBackend", "io.ferry.onnx.OnnxFormat",
        "io.ferry.testkit.RepositoryContract"}) {
      org.assertj.core.api.Assertions.assertThat(classes.contain(c)).as("imported %s", c).isTrue();
    }
    org.assertj.core.api.Assertions.assertThat(classes.contain("io.ferry.store.hdfs.MiniHdfs"))
        .as("test classes are left out").isFalse();
  }

  @Test
  void noPackageCycles() {
    slices().matching("io.ferry.(**)").should().beFreeOfCycles().check(classes);
  }

  @Test
  void coreDependsOnNoBackendNoCliNoTestkit() {
    noClasses().that().resideInAPackage("io.ferry..").and().resideOutsideOfPackages(NOT_CORE)
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.s3..",
            "io.ferry.store.redis..", "io.ferry.store.cassandra..", "io.ferry.store.http..", "io.ferry.cli..",
            "io.ferry.testkit..",
            "io.ferry.bench..", "io.ferry.onnx..", "org.apache.hadoop..", "software.amazon..", "io.lettuce..",
            "io.netty..", "com.datastax..", "org.apache.cassandra..", "picocli..", "com.google.protobuf..")
        .check(classes);
  }

  @Test
  void formatModulesKnowOnlyTheFormatSpi() {
    // ferry-onnx is a tensor format like core's own: it sees the format SPI and errors, protobuf and the JDK
    ArchRuleDefinition.classes().that().resideInAPackage("io.ferry.onnx..")
        .should().onlyDependOnClassesThat().resideInAnyPackage("io.ferry.onnx..", "io.ferry.format", "io.ferry.error",
            "com.google.protobuf..", "java..")
        .check(classes);
  }

  @Test
  void backendsDoNotDependOnEachOther() {
    noClasses().that().resideInAPackage("io.ferry.store.hdfs..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.s3..", "io.ferry.store.redis..",
            "io.ferry.store.cassandra..", "io.ferry.store.local..")
        .check(classes);
    noClasses().that().resideInAPackage("io.ferry.store.s3..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.redis..",
            "io.ferry.store.cassandra..", "io.ferry.store.local..")
        .check(classes);
    noClasses().that().resideInAPackage("io.ferry.store.cassandra..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.s3..",
            "io.ferry.store.redis..", "io.ferry.store.local..")
        .check(classes);
    noClasses().that().resideInAPackage("io.ferry.store.http..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.s3..",
            "io.ferry.store.redis..", "io.ferry.store.cassandra..", "io.ferry.store.local..")
        .check(classes);
    // the cache tier is a layer over any store: it knows the SPI, never a backend
    noClasses().that().resideInAPackage("io.ferry.store.redis..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.s3..",
            "io.ferry.store.cassandra..", "io.ferry.store.local..")
        .check(classes);
  }

  /** What the CLI may use of the Redis cache tier: its public API, not the cache itself nor its client. */
  private static final Set<String> CLI_MAY_USE_OF_REDIS = Set.of("io.ferry.store.redis.RedisCache",
      "io.ferry.store.redis.RedisCache$Report", "io.ferry.store.redis.RedisCache$StoreEntry",
      "io.ferry.store.redis.RedisCache$Memory",
      "io.ferry.store.redis.CacheSettings", "io.ferry.store.redis.CacheSettings$WriteMode",
      "io.ferry.store.redis.CacheListener", "io.ferry.store.redis.CacheCounters");

  /** What the CLI may use: the Java API a user of Ferry sees, not the SPI, the object database or the transfers. */
  private static final Set<String> CLI_MAY_NOT_USE = Set.of(
      "io.ferry.store.ChunkStore", "io.ferry.store.RefStore", "io.ferry.store.RecordStore", "io.ferry.store.Backend",
      "io.ferry.objects.ObjectDatabase", "io.ferry.transfer.Pusher", "io.ferry.transfer.Puller",
      "io.ferry.transfer.Copier");

  @Test
  void cliUsesOnlyThePublicApi() {
    ArchRuleDefinition.noClasses().that().resideInAPackage("io.ferry.cli..")
        .should().dependOnClassesThat(DescribedPredicate.describe("SPI, storage internals or a backend",
            (JavaClass c) -> CLI_MAY_NOT_USE.contains(c.getName())
                || c.getPackageName().startsWith("io.ferry.store.local")
                || c.getPackageName().startsWith("io.ferry.store.hdfs")
                || c.getPackageName().startsWith("io.ferry.store.s3")
                || c.getPackageName().startsWith("io.ferry.store.redis") && !CLI_MAY_USE_OF_REDIS.contains(c.getName())
                || c.getPackageName().startsWith("io.lettuce")
                || c.getPackageName().startsWith("io.ferry.store.cassandra")
                || c.getPackageName().startsWith("io.ferry.store.http")
                || c.getPackageName().startsWith("com.datastax")
                || c.getPackageName().startsWith("io.ferry.pack")
                || c.getPackageName().startsWith("io.ferry.objects")
                || c.getPackageName().startsWith("io.ferry.store.refs")
                || c.getPackageName().startsWith("io.ferry.lease")
                || c.getPackageName().startsWith("io.ferry.testkit")))
        .check(classes);
  }
}
