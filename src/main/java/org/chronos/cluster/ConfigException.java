package org.chronos.cluster;

/**
 * A configuration file or value that cannot be used; thrown by {@link IniFile} and {@link
 * ClusterConfig} so that a reload can refuse a bad file whole and keep the running view.
 *
 * <p>The message is meant for an operator: it names the file, the line, the key and the bad value.
 */
public class ConfigException extends Exception {

  private static final long serialVersionUID = 1L;

  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
