package org.chronos.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dropwizard.servlets.tasks.Task;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import org.chronos.resync.ResyncService;
import org.chronos.resync.ResyncSummary;

/**
 * {@code POST /tasks/resync}: runs a resync (PROTOCOL.md section 6) and answers when it has
 * finished, with its summary as JSON. While one runs, a request waits for it and then for a fresh
 * run. {@code POST /tasks/resync?wait=true} starts nothing: it waits for the running resync, if
 * any, and answers the latest summary ({@code null} if none ever ran); that is {@code service
 * chronos wait-sync}.
 */
public final class ResyncTask extends Task {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private final ResyncService resync;

  public ResyncTask(ResyncService resync) {
    super("resync");
    this.resync = resync;
  }

  @Override
  public void execute(Map<String, List<String>> parameters, PrintWriter output) throws Exception {
    boolean waitOnly = parameters.getOrDefault("wait", List.of()).contains("true");
    ResyncSummary summary =
        waitOnly ? resync.awaitCurrent().join() : resync.start("admin task").join();
    output.println(MAPPER.writeValueAsString(summary));
  }
}
