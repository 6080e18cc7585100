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

  @BeforeAll
  static void importClasses() {
    classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_JARS).importPackages("io.ferry");
  }

  private static final String[] CORE = {"io.ferry", "io.ferry.chunk..", "io.ferry.codec..", "io.ferry.derive..",
      "io.ferry.error..", "io.ferry.format..", "io.ferry.lease..", "io.ferry.pack..", "io.ferry.read..",
      "io.ferry.repo..", "io.ferry.transfer..", "io.ferry.version..", "io.ferry.store", "io.ferry.store.local.."};

  @Test
  void noPackageCycles() {
    slices().matching("io.ferry.(**)").should().beFreeOfCycles().check(classes);
  }

  @Test
  void coreDependsOnNoBackendNoCliNoTestkit() {
    noClasses().that().resideInAnyPackage(CORE)
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.s3..",
            "io.ferry.cli..", "io.ferry.testkit..", "io.ferry.bench..", "org.apache.hadoop..",
            "software.amazon..", "picocli..")
        .check(classes);
  }

  @Test
  void backendsDoNotDependOnEachOther() {
    noClasses().that().resideInAPackage("io.ferry.store.hdfs..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.s3..", "io.ferry.store.local..")
        .check(classes);
    noClasses().that().resideInAPackage("io.ferry.store.s3..")
        .should().dependOnClassesThat().resideInAnyPackage("io.ferry.store.hdfs..", "io.ferry.store.local..")
        .check(classes);
  }

  /** What the CLI may use: the Java API a user of Ferry sees, not the SPI, the object database or the transfers. */
  private static final Set<String> CLI_MAY_NOT_USE = Set.of(
      "io.ferry.store.ChunkStore", "io.ferry.store.RefStore", "io.ferry.store.RecordStore", "io.ferry.store.Backend",
      "io.ferry.repo.ObjectDatabase", "io.ferry.transfer.Pusher", "io.ferry.transfer.Puller",
      "io.ferry.transfer.Copier");

  @Test
  void cliUsesOnlyThePublicApi() {
    ArchRuleDefinition.noClasses().that().resideInAPackage("io.ferry.cli..")
        .should().dependOnClassesThat(DescribedPredicate.describe("SPI, storage internals or a backend",
            (JavaClass c) -> CLI_MAY_NOT_USE.contains(c.getName())
                || c.getPackageName().startsWith("io.ferry.store.local")
                || c.getPackageName().startsWith("io.ferry.store.hdfs")
                || c.getPackageName().startsWith("io.ferry.store.s3")
                || c.getPackageName().startsWith("io.ferry.pack")
                || c.getPackageName().startsWith("io.ferry.lease")
                || c.getPackageName().startsWith("io.ferry.testkit")))
        .check(classes);
  }
}
