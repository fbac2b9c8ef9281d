package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Known answers from the public MurmurHash3 reference; the vectors test covers the rest. */
class Murmur3Test {

  @Test
  void x86_32MatchesPublishedKnownAnswers() {
    assertThat(Murmur3.x86_32(new byte[0], 0)).isZero();
    assertThat(Murmur3.x86_32(new byte[0], 1)).isEqualTo(0x514e28b7);
    assertThat(Murmur3.x86_32(new byte[0], 0xffffffff)).isEqualTo(0x81f16f39);
    assertThat(Murmur3.x86_32(new byte[4], 0)).isEqualTo(0x2362f9de);
    assertThat(Murmur3.x86_32(ascii("Hello, world!"), 0x9747b28c)).isEqualTo(0x24884cba);
    assertThat(Murmur3.x86_32(ascii("The quick brown fox jumps over the lazy dog"), 0x9747b28c))
        .isEqualTo(0x2fa826cd);
  }

  /** SMHasher's self-check: it exercises every tail length, many seeds and high-bit bytes. */
  @Test
  void x86_32PassesTheSmhasherVerificationValue() {
    assertThat(smhasherVerification(4)).isEqualTo(0xb0f57ee3);
  }

  @Test
  void x86_128PassesTheSmhasherVerificationValue() {
    assertThat(smhasherVerification(16)).isEqualTo(0xb3ece62a);
  }

  @Test
  void x86_128OfEmptyInputWithSeedZeroIsZero() {
    assertThat(Murmur3.x86_128(new byte[0], 0)).containsExactly(0L, 0L);
  }

  @Test
  void hashingALongEqualsHashingItsEightLittleEndianBytes() {
    Random random = new Random(42);
    long[] samples = {0L, 1L, -1L, Long.MIN_VALUE, 0x0123456789abcdefL};
    for (int i = 0; i < 1000; i++) {
      long value = i < samples.length ? samples[i] : random.nextLong();
      int seed = random.nextInt();
      byte[] bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
      assertThat(Murmur3.x86_32(value, seed))
          .as("value %x seed %x", value, seed)
          .isEqualTo(Murmur3.x86_32(bytes, seed));
    }
  }

  /**
   * Hashes keys {}, {0}, {0,1}, ... {0..254} with seed 256 - length, concatenates the little-endian
   * outputs and returns the first 4 bytes of their hash with seed 0.
   */
  private static int smhasherVerification(int hashBytes) {
    byte[] key = new byte[256];
    ByteBuffer hashes = ByteBuffer.allocate(hashBytes * 256).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 256; i++) {
      key[i] = (byte) i;
      putHash(hashes, Arrays.copyOf(key, i), 256 - i, hashBytes);
    }
    ByteBuffer result = ByteBuffer.allocate(hashBytes).order(ByteOrder.LITTLE_ENDIAN);
    putHash(result, hashes.array(), 0, hashBytes);
    return result.getInt(0);
  }

  private static void putHash(ByteBuffer out, byte[] data, int seed, int hashBytes) {
    if (hashBytes == 4) {
      out.putInt(Murmur3.x86_32(data, seed));
    } else {
      long[] halves = Murmur3.x86_128(data, seed);
      out.putLong(halves[0]).putLong(halves[1]);
    }
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
