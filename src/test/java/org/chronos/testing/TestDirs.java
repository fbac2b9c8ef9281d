package org.chronos.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where test nodes keep their files (YAML, cluster files, child JVMs' logs): under {@code
 * target/test-nodes}, so that they are there to read after a failure and go with {@code mvn clean},
 * instead of piling up in the system's temporary directory.
 */
public final class TestDirs {
  private TestDirs() {}

  public static Path root() {
    try {
      return Files.createDirectories(Path.of("target", "test-nodes")).toAbsolutePath();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
