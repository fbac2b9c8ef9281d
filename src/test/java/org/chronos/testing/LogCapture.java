package org.chronos.testing;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * What one class logs, from {@link #of} until {@link #close}, which puts its logger back as it was.
 */
public final class LogCapture implements AutoCloseable {
  private final Logger logger;
  private final Level before;
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

  private LogCapture(Class<?> type, Level level) {
    logger = (Logger) LoggerFactory.getLogger(type);
    before = logger.getLevel();
    if (level != null) {
      logger.setLevel(level);
    }
    appender.start();
    logger.addAppender(appender);
  }

  /** Captures {@code type}'s log at its level as configured. */
  public static LogCapture of(Class<?> type) {
    return new LogCapture(type, null);
  }

  /** Captures {@code type}'s log at {@code level} and above. */
  public static LogCapture of(Class<?> type, Level level) {
    return new LogCapture(type, level);
  }

  /** The events so far, in order. */
  public List<ILoggingEvent> events() {
    // The appender appends under its own lock (AppenderBase.doAppend), on the logging threads.
    synchronized (appender) {
      return List.copyOf(appender.list);
    }
  }

  @Override
  public void close() {
    logger.detachAppender(appender);
    logger.setLevel(before);
  }
}
