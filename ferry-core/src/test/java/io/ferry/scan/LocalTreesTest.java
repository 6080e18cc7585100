package io.ferry.scan;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Removing a tree Ferry made: all of it, deepest first, and never what a link inside it points at. */
class LocalTreesTest {
  @TempDir Path tmp;

  @Test
  void removesTheTreeAndItsLinksButNotWhatTheyPointAt() throws IOException {
    Path outside = Files.createDirectories(tmp.resolve("outside"));
    Files.writeString(outside.resolve("keep.txt"), "kept");
    Path dir = Files.createDirectories(tmp.resolve("scratch").resolve("a").resolve("b"));
    Files.writeString(dir.resolve("x.bin"), "x");
    Files.createSymbolicLink(dir.resolve("to-outside"), outside);
    Files.createSymbolicLink(dir.resolve("to-file"), outside.resolve("keep.txt"));
    Files.createSymbolicLink(dir.resolve("dangling"), tmp.resolve("nothing"));

    LocalTrees.delete(tmp.resolve("scratch"));

    assertThat(tmp.resolve("scratch")).doesNotExist();
    assertThat(outside.resolve("keep.txt")).hasContent("kept");
  }

  @Test
  void aLinkInPlaceOfTheTreeIsRemovedAndWhatItPointsAtKept() throws IOException {
    Path outside = Files.createDirectories(tmp.resolve("outside"));
    Files.writeString(outside.resolve("keep.txt"), "kept");
    Path link = Files.createSymbolicLink(tmp.resolve("scratch"), outside);
    Path dangling = Files.createSymbolicLink(tmp.resolve("gone"), tmp.resolve("nothing"));

    LocalTrees.delete(link);
    LocalTrees.delete(dangling);
    LocalTrees.delete(tmp.resolve("never-made"));

    assertThat(Files.exists(link, LinkOption.NOFOLLOW_LINKS)).isFalse();
    assertThat(Files.exists(dangling, LinkOption.NOFOLLOW_LINKS)).as("a dangling link is removed").isFalse();
    assertThat(outside.resolve("keep.txt")).hasContent("kept");
  }
}
