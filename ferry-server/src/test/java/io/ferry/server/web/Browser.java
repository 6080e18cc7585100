package io.ferry.server.web;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * Debian's Chromium driven through Debian's chromedriver, both found on the PATH and named explicitly, so Selenium
 * Manager never looks for a driver on the network. Headless; {@code --no-sandbox} when running as root. Missing
 * binaries fail the test under CI and skip it elsewhere (as the Redis tests do).
 */
public final class Browser {
  private Browser() {}

  public static Path executable(String... names) {
    String path = System.getenv("PATH");
    for (String name : names) {
      for (String d : (path == null ? "/usr/bin:/usr/local/bin" : path).split(File.pathSeparator)) {
        Path p = Path.of(d, name);
        if (Files.isExecutable(p)) {
          return p;
        }
      }
    }
    return null;
  }

  /** Starts a headless Chromium, or skips (fails under CI=true) when Chromium or chromedriver is missing. */
  public static ChromeDriver start() {
    Path chromium = executable("chromium", "chromium-browser");
    Path driver = executable("chromedriver");
    if (chromium == null || driver == null) {
      String msg = "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)";
      if ("true".equalsIgnoreCase(System.getenv("CI"))) {
        throw new AssertionError(msg + ": CI must install them (.ci/run)");
      }
      Assumptions.abort(msg + "; skipping the browser tests");
    }
    System.setProperty("webdriver.chrome.driver", driver.toString());
    ChromeOptions o = new ChromeOptions();
    o.setBinary(chromium.toFile());
    o.addArguments("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
        "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--metrics-recording-only", "--mute-audio");
    if ("root".equals(System.getProperty("user.name"))) {
      o.addArguments("--no-sandbox");
    }
    ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(driver.toFile())
        .usingAnyFreePort().withLogOutput(java.io.OutputStream.nullOutputStream()).build();
    ChromeDriver d = new ChromeDriver(service, o);
    d.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(30));
    return d;
  }

  /** Saves a screenshot of the page as {@code target/screenshots/NAME.png} (a test artefact). */
  public static void screenshot(ChromeDriver d, String name) throws IOException {
    Path dir = Files.createDirectories(Path.of("target", "screenshots"));
    Files.write(dir.resolve(name + ".png"), d.getScreenshotAs(OutputType.BYTES));
  }
}
