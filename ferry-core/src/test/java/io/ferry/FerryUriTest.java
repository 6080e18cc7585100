package io.ferry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import java.net.URI;
import org.junit.jupiter.api.Test;

class FerryUriTest {
  /**
   * Several IPv6 hosts in brackets, as users write contact points: {@code java.net.URI} takes bare brackets only around
   * the one host of an authority, so such a store could not be named at all.
   */
  @Test
  void severalBracketedHostsAreTakenWithTheBracketsEncoded() throws Exception {
    URI uri = Ferry.toUri("cassandra://[::1]:9042,[fe80::2]/ks?consistency=ONE");
    assertThat(uri.getScheme()).isEqualTo("cassandra");
    assertThat(uri.getRawAuthority()).isEqualTo("%5B::1%5D:9042,%5Bfe80::2%5D");
    assertThat(uri.getPath()).isEqualTo("/ks");
    assertThat(uri.getRawQuery()).isEqualTo("consistency=ONE");
    // one host keeps its brackets, as the URI has them
    assertThat(Ferry.toUri("cassandra://[::1]:9042/ks").getHost()).isEqualTo("[::1]");
    // only the authority's brackets are encoded: a bracket elsewhere stays an error naming the store
    assertThatThrownBy(() -> Ferry.toUri("cassandra://[::1],[::2]/k[s"))
        .isInstanceOf(InvalidInputException.class).hasMessageContaining("store 'cassandra://[::1],[::2]/k[s' is not a"
            + " valid URI");
    assertThatThrownBy(() -> Ferry.toUri("cassandra://h1 h2/ks")).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("is not a valid URI");
  }

  /** A store that does not parse is named without what may be a secret: the message showed the string as given. */
  @Test
  void aStoreThatIsNoUriIsNamedWithoutItsUserInformationAndQuery() {
    assertThatThrownBy(() -> Ferry.toUri("http://alice:pw1@h:80/a b?token=tk1")).isInstanceOf(
        InvalidInputException.class).hasMessageStartingWith("store 'http://h:80/a b' is not a valid URI")
        .hasMessageNotContaining("pw1").hasMessageNotContaining("tk1");
    assertThatThrownBy(() -> Ferry.toUri("http://h:80/a b#tk1")).hasMessageNotContaining("tk1");
    assertThatThrownBy(() -> Ferry.openBackend("nope://u:pw1@h/x?t=tk1", io.ferry.store.StoreOptions.existing()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("no backend for store 'nope://h/x'");
  }
}
