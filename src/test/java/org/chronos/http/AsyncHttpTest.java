package org.chronos.http;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.io.IOException;
import java.nio.channels.ClosedSelectorException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** What an operator sees in the log when an HTTP client's I/O reactor fails. */
class AsyncHttpTest {
  private final Logger logger = (Logger) LoggerFactory.getLogger(AsyncHttp.class);
  private final ListAppender<ILoggingEvent> events = new ListAppender<>();
  private Level level;

  @BeforeEach
  void capture() {
    level = logger.getLevel();
    logger.setLevel(Level.DEBUG);
    logger.setAdditive(false); // the test's own error stays out of the build's output
    events.start();
    logger.addAppender(events);
  }

  @AfterEach
  void release() {
    logger.detachAppender(events);
    logger.setLevel(level);
    logger.setAdditive(true);
  }

  @Test
  void aReactorFindingItsSelectorClosedAsItStopsIsNoErrorButAnyOtherFailureIs() {
    AsyncHttp.reactorFailed(new ClosedSelectorException());
    AsyncHttp.reactorFailed(new IOException("disk on fire"));

    assertThat(events.list)
        .extracting(ILoggingEvent::getLevel)
        .containsExactly(Level.DEBUG, Level.ERROR);
    assertThat(events.list.get(1).getFormattedMessage())
        .isEqualTo("HTTP client I/O reactor failed");
    assertThat(events.list.get(1).getThrowableProxy().getMessage()).isEqualTo("disk on fire");
  }
}
