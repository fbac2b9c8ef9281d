package org.chronos.timer;

/**
 * One callback to deliver: an immutable snapshot taken on the timer thread when a timer pops.
 *
 * @param sequence the value of {@code X-Sequence-Number}: 1 on a timer's first pop
 * @param dueMillis when the pop was due, for lateness
 */
public record Pop(long timerId, String uri, byte[] opaque, int sequence, long dueMillis) {}
