package org.chronos.admin;

import io.dropwizard.servlets.tasks.Task;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import org.chronos.cluster.ClusterService;
import org.chronos.cluster.ClusterView;
import org.chronos.cluster.ConfigException;

/**
 * {@code POST /tasks/reload}: re-reads the cluster and shared files, as SIGHUP does, and answers
 * once the new view is in place. A bad file changes nothing and the task fails with the reason.
 */
public final class ReloadTask extends Task {
  private final ClusterService cluster;

  public ReloadTask(ClusterService cluster) {
    super("reload");
    this.cluster = cluster;
  }

  @Override
  public void execute(Map<String, List<String>> parameters, PrintWriter output) throws Exception {
    ClusterView view;
    try {
      view = cluster.reload();
    } catch (ConfigException e) {
      throw new ReloadRefusedException(
          "reload refused, configuration unchanged: " + e.getMessage());
    }
    output.println("reloaded: " + ClusterService.describe(view));
  }

  /** Makes the task answer an error status carrying the reason. */
  static final class ReloadRefusedException extends Exception {
    private static final long serialVersionUID = 1L;

    ReloadRefusedException(String message) {
      super(message);
    }
  }
}
