package io.ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model's page in the store browser shows its tags a page at a time, as the other lists are paged, and the ref log
 * of the tags shown: with 300 tags it listed every tag and the log of each (a page of 188 KB).
 */
@Timeout(120)
class ModelPageTagsTest {
  @TempDir Path tmp;

  private static String table(String page, String id) {
    int from = page.indexOf("<table id=\"" + id + "\"");
    return page.substring(from, page.indexOf("</table>", from));
  }

  private static int rows(String table) {
    int n = 0;
    for (Matcher m = Pattern.compile("<tr[ >]").matcher(table); m.find(); ) {
      n++;
    }
    return n - 1; // the head row
  }

  @Test
  void tagsArePagedAndOnlyTheShownTagsLogsListed() throws Exception {
    try (ServerFixture fx = new ServerFixture(tmp)) {
      for (int i = 0; i < 119; i++) {
        fx.repo.tag("org/tiny", String.format("t%03d", i), null);
      }
      URI base = fx.startDev().uri();
      HttpResponse<byte[]> r = fx.send(ServerFixture.get(base, "/ui/models/org/tiny"));
      String first = new String(r.body(), StandardCharsets.UTF_8);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(first).contains("120 tags, showing 1–50 by name").contains("href=\"/ui/models/org/tiny?tags=1\"");
      assertThat(rows(table(first, "refs"))).as("the head and 50 tags").isEqualTo(51);
      assertThat(table(first, "refs")).contains(">prod<").contains(">t000<").doesNotContain(">t049<");
      // each shown ref moved once: the head's push and 50 tags
      assertThat(rows(table(first, "reflog"))).isEqualTo(51);
      assertThat(table(first, "history")).contains("+111 more"); // head, prod and 119 tags on one version
      String last = new String(fx.send(ServerFixture.get(base, "/ui/models/org/tiny?tags=2")).body(),
          StandardCharsets.UTF_8);
      assertThat(last).contains("120 tags, showing 101–120 by name").doesNotContain("more tags");
      assertThat(table(last, "refs")).contains(">t118<").doesNotContain(">prod<");
      assertThat(rows(table(last, "refs"))).isEqualTo(21);
      assertThat(rows(table(last, "reflog"))).isEqualTo(21);
    }
  }
}
