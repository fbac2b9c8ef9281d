package org.chronos.testing;

import org.chronos.testing.ClusterHarness.Node;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Base of a test class whose tests share two real nodes of one cluster, {@link #a} and {@link #b},
 * started once for the class (test classes run one after another, see junit-platform.properties).
 */
public abstract class TwoNodeTest {
  protected static ClusterHarness cluster;
  protected static Node a;
  protected static Node b;

  @BeforeAll
  static void startTwoNodes() {
    cluster = ClusterHarness.start(2);
    a = cluster.node(0);
    b = cluster.node(1);
  }

  @AfterAll
  static void stopTwoNodes() {
    cluster.close();
  }
}
