package io.ferry.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class MemoryBudgetTest {
  @Test
  void aLeaseKeepingOnlyPartOfItsRoomGivesTheRestBack() throws Exception {
    MemoryBudget budget = new MemoryBudget(8 << 20, 0, 4, MemoryBudget.DEFAULT_MIN_HELD_RATE);
    try (MemoryBudget.Lease reading = budget.take(6 << 20, 0)) {
      assertThatThrownBy(() -> budget.take(4 << 20, 0)).isInstanceOf(HttpError.class);
      reading.keepOnly(1 << 20);
      try (MemoryBudget.Lease other = budget.take(7 << 20, 0)) {
        assertThatThrownBy(() -> budget.take(1, 0)).isInstanceOf(HttpError.class);
        reading.keepOnly(2 << 20); // keeps what it has: it takes no more
      }
      assertThat(budget.take(7 << 20, 0)).isNotNull().satisfies(MemoryBudget.Lease::close);
    }
    budget.take(8 << 20, 0).close(); // all of it came back, once
  }
}
