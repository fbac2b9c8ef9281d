package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The view before the last reload, which updates also go to (see {@code TimerNode}). */
class ClusterServiceTest {
  private static final String A = "10.0.0.1:7253";
  private static final String B = "10.0.0.2:7253";
  private static final String C = "10.0.0.3:7253";

  @TempDir Path dir;

  private Path write(String lines) throws Exception {
    Path file = dir.resolve("chronos_cluster.conf");
    Files.writeString(file, "[cluster]\nlocalhost = " + A + "\n" + lines + "\n");
    return file;
  }

  @Test
  void afterAScaleDownEndsThePreviousViewNoLongerNamesTheNodesThatLeft() throws Exception {
    Path file = write("node = " + A + "\nnode = " + B + "\nnode = " + C);
    ClusterService service = new ClusterService(file, dir.resolve("none.conf"), 7253);
    ClusterView three = service.view();

    write("node = " + A + "\nnode = " + B + "\nleaving = " + C);
    service.reload();
    ClusterView leaving = service.view();
    assertThat(service.previousView()).isSameAs(three);
    // The same file again changes nothing: the view from before the scale-down stays.
    service.reload();
    assertThat(service.previousView()).isSameAs(three);

    // The leaving line goes, C is stopped. The view id is the same (the new cluster is), but
    // updates must stop going to C, which a previous view naming it as a node would send them to.
    write("node = " + A + "\nnode = " + B);
    service.reload();
    assertThat(service.view().viewId()).isEqualTo(leaving.viewId());
    assertThat(service.previousView().config().leaving()).containsExactly(C);
    assertThat(service.previousView().newCluster()).containsExactly(A, B);
  }
}
