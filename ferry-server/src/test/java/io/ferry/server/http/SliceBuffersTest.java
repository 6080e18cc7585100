package io.ferry.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The slice buffers of streamed answers: direct and reused, never more than the bound, heap ones beyond it. */
class SliceBuffersTest {
  @Test
  void directBuffersAreReusedAndNeverMoreThanTheBound() {
    SliceBuffers slices = new SliceBuffers(4096, 3);
    List<ByteBuffer> lent = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ByteBuffer b = slices.take(10_000);
      assertThat(b.isDirect()).isTrue();
      assertThat(b.capacity()).isEqualTo(4096);
      lent.add(b);
    }
    ByteBuffer beyond = slices.take(100);
    assertThat(beyond.isDirect()).as("a fourth buffer while three are lent").isFalse();
    assertThat(beyond.capacity()).as("a heap buffer of the bytes needed").isEqualTo(100);
    assertThat(slices.take(1 << 20).capacity()).as("never more than the size").isEqualTo(4096);
    slices.give(beyond);
    ByteBuffer first = lent.get(0);
    first.position(7).limit(9);
    slices.give(first);
    ByteBuffer again = slices.take(5);
    assertThat(again).isSameAs(first);
    assertThat(again.position()).isZero();
    assertThat(again.limit()).as("cleared").isEqualTo(4096);
    assertThat(slices.made()).isEqualTo(3);
  }

  @Test
  void refusesSizesThatMakeNoBuffer() {
    assertThatThrownBy(() -> new SliceBuffers(0, 3)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new SliceBuffers(4096, 0)).isInstanceOf(IllegalArgumentException.class);
  }
}
