package io.ferry.testkit;

import java.util.Random;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * A seeded random for one test, as a JUnit 5 extension: register it with {@code @RegisterExtension}. The seed comes
 * from the system property {@code ferry.seed} if set, else it is fresh for each test; when a test fails, the seed is
 * attached to the failure (as a suppressed exception) so that {@code -Dferry.seed=...} reproduces it.
 *
 * <p>Not thread-safe: threads of a test should draw their own seeds from {@link #random()} first.
 */
public final class TestRandom implements BeforeEachCallback, TestExecutionExceptionHandler {
  private long seed;
  private Random random;

  /** Creates the extension; the seed is chosen before each test. */
  public TestRandom() {}

  @Override
  public void beforeEach(ExtensionContext context) {
    String fixed = System.getProperty("ferry.seed");
    seed = fixed != null ? Long.parseLong(fixed) : new Random().nextLong();
    random = new Random(seed);
  }

  @Override
  public void handleTestExecutionException(ExtensionContext context, Throwable t) throws Throwable {
    t.addSuppressed(new AssertionError("random seed of " + context.getDisplayName() + ": rerun with -Dferry.seed="
        + seed));
    throw t;
  }

  /** The test's random source. */
  public Random random() {
    return random;
  }

  /** The test's seed. */
  public long seed() {
    return seed;
  }

  /** {@code n} random bytes. */
  public byte[] bytes(int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    return b;
  }
}
