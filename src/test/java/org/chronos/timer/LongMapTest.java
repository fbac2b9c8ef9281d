package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LongMapTest {

  @Test
  void shouldAgreeWithHashMapUnderRandomPutsAndRemoves() {
    LongMap<Long> map = new LongMap<>(4);
    Map<Long, Long> model = new HashMap<>();
    Random random = new Random(42);
    for (int i = 0; i < 200_000; i++) {
      // A small key space forces long probe runs, collisions and removals inside them.
      long key = random.nextInt(5000) * 0x100000000L;
      if (random.nextInt(3) == 0) {
        assertThat(map.remove(key)).isEqualTo(model.remove(key));
      } else {
        long value = random.nextLong();
        assertThat(map.put(key, value)).isEqualTo(model.put(key, value));
      }
    }
    assertThat(map.size()).isEqualTo(model.size());
    for (long key = 0; key < 5000; key++) {
      assertThat(map.get(key * 0x100000000L)).isEqualTo(model.get(key * 0x100000000L));
    }
  }
}
