package org.chronos.cluster;

/**
 * Stateless MurmurHash3 (Austin Appleby's public-domain x86_32 and x86_128 variants); safe from any
 * thread, called by {@link ClusterView} to rank servers and build the cluster view id.
 *
 * <p>Both variants read the input as little-endian 32-bit words whatever the platform, so the
 * results match the original C++ nodes on x86. Java's {@code int} arithmetic wraps exactly like the
 * reference {@code uint32_t} arithmetic; only shifts right must be unsigned ({@code >>>}) and tail
 * bytes must be read unsigned.
 */
public final class Murmur3 {

  private static final int C1_32 = 0xcc9e2d51;
  private static final int C2_32 = 0x1b873593;

  private static final int C1_128 = 0x239b961b;
  private static final int C2_128 = 0xab0e9789;
  private static final int C3_128 = 0x38b34ae5;
  private static final int C4_128 = 0xa1e38b93;

  private Murmur3() {}

  /** The 32-bit hash of {@code data}; read the result as unsigned where it is compared. */
  public static int x86_32(byte[] data, int seed) {
    int length = data.length;
    int h = seed;
    int blockEnd = length & ~3;
    for (int i = 0; i < blockEnd; i += 4) {
      h = mix32Block(h, intLittleEndian(data, i));
    }
    int tail = length & 3;
    if (tail > 0) {
      int k = 0;
      for (int j = tail - 1; j >= 0; j--) {
        k ^= (data[blockEnd + j] & 0xff) << (8 * j);
      }
      h ^= mixK32(k);
    }
    return fmix32(h ^ length);
  }

  /**
   * {@link #x86_32(byte[], int)} of the 8 little-endian bytes of {@code value}, without allocating:
   * replica ranking calls this once per server for every timer update.
   */
  public static int x86_32(long value, int seed) {
    int h = mix32Block(seed, (int) value);
    h = mix32Block(h, (int) (value >>> 32));
    return fmix32(h ^ 8);
  }

  /**
   * The 128-bit x86 hash of {@code data} as {@code {h1, h2}}: the reference's 16 output bytes read
   * as two little-endian 64-bit values. Its four 32-bit lanes therefore pair up as {@code h1 =
   * lane1 | lane2 << 32} and {@code h2 = lane3 | lane4 << 32}.
   */
  public static long[] x86_128(byte[] data, int seed) {
    int length = data.length;
    int h1 = seed;
    int h2 = seed;
    int h3 = seed;
    int h4 = seed;
    int blockEnd = length & ~15;
    for (int i = 0; i < blockEnd; i += 16) {
      h1 ^= mixK1(intLittleEndian(data, i));
      h1 = Integer.rotateLeft(h1, 19) + h2;
      h1 = h1 * 5 + 0x561ccd1b;

      h2 ^= mixK2(intLittleEndian(data, i + 4));
      h2 = Integer.rotateLeft(h2, 17) + h3;
      h2 = h2 * 5 + 0x0bcaa747;

      h3 ^= mixK3(intLittleEndian(data, i + 8));
      h3 = Integer.rotateLeft(h3, 15) + h4;
      h3 = h3 * 5 + 0x96cd1c35;

      h4 ^= mixK4(intLittleEndian(data, i + 12));
      h4 = Integer.rotateLeft(h4, 13) + h1;
      h4 = h4 * 5 + 0x32ac3b17;
    }

    // The tail fills k4 down to k1; each lane is mixed in once its first byte is reached.
    int tail = length & 15;
    int k1 = 0;
    int k2 = 0;
    int k3 = 0;
    int k4 = 0;
    for (int j = tail - 1; j >= 0; j--) {
      int b = data[blockEnd + j] & 0xff;
      int shift = (j & 3) * 8;
      switch (j >>> 2) {
        case 3 -> k4 ^= b << shift;
        case 2 -> k3 ^= b << shift;
        case 1 -> k2 ^= b << shift;
        default -> k1 ^= b << shift;
      }
    }
    if (tail > 12) {
      h4 ^= mixK4(k4);
    }
    if (tail > 8) {
      h3 ^= mixK3(k3);
    }
    if (tail > 4) {
      h2 ^= mixK2(k2);
    }
    if (tail > 0) {
      h1 ^= mixK1(k1);
    }

    h1 ^= length;
    h2 ^= length;
    h3 ^= length;
    h4 ^= length;

    h1 += h2 + h3 + h4;
    h2 += h1;
    h3 += h1;
    h4 += h1;

    h1 = fmix32(h1);
    h2 = fmix32(h2);
    h3 = fmix32(h3);
    h4 = fmix32(h4);

    h1 += h2 + h3 + h4;
    h2 += h1;
    h3 += h1;
    h4 += h1;

    return new long[] {pack(h1, h2), pack(h3, h4)};
  }

  private static long pack(int low, int high) {
    return (low & 0xffffffffL) | ((long) high << 32);
  }

  private static int mix32Block(int h, int k) {
    h ^= mixK32(k);
    h = Integer.rotateLeft(h, 13);
    return h * 5 + 0xe6546b64;
  }

  private static int mixK32(int k) {
    return Integer.rotateLeft(k * C1_32, 15) * C2_32;
  }

  private static int mixK1(int k) {
    return Integer.rotateLeft(k * C1_128, 15) * C2_128;
  }

  private static int mixK2(int k) {
    return Integer.rotateLeft(k * C2_128, 16) * C3_128;
  }

  private static int mixK3(int k) {
    return Integer.rotateLeft(k * C3_128, 17) * C4_128;
  }

  private static int mixK4(int k) {
    return Integer.rotateLeft(k * C4_128, 18) * C1_128;
  }

  private static int fmix32(int h) {
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return h;
  }

  private static int intLittleEndian(byte[] data, int offset) {
    return (data[offset] & 0xff)
        | (data[offset + 1] & 0xff) << 8
        | (data[offset + 2] & 0xff) << 16
        | (data[offset + 3] & 0xff) << 24;
  }
}
