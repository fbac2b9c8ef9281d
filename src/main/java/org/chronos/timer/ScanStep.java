package org.chronos.timer;

/** What one step of a resumable scan ({@link TimerStore#scan}) did. */
public enum ScanStep {
  /** Visited some entries; call again to go on. */
  MORE,
  /** Visited the last entries; the scan is over. */
  DONE,
  /**
   * Visited nothing: the table was rebuilt since the last step (it grew), so the scan starts again
   * from the beginning of the new table. What the scan gave so far may be given again: discard it.
   */
  RESTARTED
}
