package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class IniFileTest {

  @Test
  void repeatedKeysAreAllKeptInFileOrder() throws ConfigException {
    IniFile ini = IniFile.parse("[cluster]\nnode = b\nnode = a\nnode = c\n", "f.conf");

    assertThat(ini.values("cluster", "node")).containsExactly("b", "a", "c");
    assertThat(ini.entries("cluster", "node"))
        .extracting(IniFile.Entry::line)
        .containsExactly(2, 3, 4);
  }

  @Test
  void whitespaceAroundKeysAndValuesIsTrimmed() throws ConfigException {
    IniFile ini = IniFile.parse("  [ cluster ]  \n\t localhost\t=   1.2.3.4  \n", "f");

    assertThat(ini.value("cluster", "localhost")).contains("1.2.3.4");
  }

  @Test
  void commentsAreSkippedWholeLinesAndFromAnyHash() throws ConfigException {
    String text =
        """
                # a comment
                ; another
                [cluster]
                  # indented comment
                localhost = 1.2.3.4   # this node's address
                node = a#b, as the original's parser reads it
                node = c #d
                joining = # nothing
                """;

    IniFile ini = IniFile.parse(text, "f");

    assertThat(ini.value("cluster", "localhost")).contains("1.2.3.4");
    assertThat(ini.values("cluster", "node")).containsExactly("a", "c");
    assertThat(ini.values("cluster", "joining")).containsExactly("");
    assertThat(ini.sectionNames()).containsExactly("cluster");
  }

  @Test
  void keysBeforeAnyHeaderBelongToTheEmptySection() throws ConfigException {
    IniFile ini = IniFile.parse("top = 1\n[s]\nk = v\n", "f");

    assertThat(ini.sectionNames()).containsExactly("", "s");
    assertThat(ini.value("", "top")).contains("1");
    assertThat(ini.value("s", "top")).isEmpty();
  }

  @Test
  void aRepeatedHeaderContinuesTheSameSection() throws ConfigException {
    IniFile ini = IniFile.parse("[a]\nk = 1\n[b]\n[a]\nk = 2\n", "f");

    assertThat(ini.values("a", "k")).containsExactly("1", "2");
    assertThat(ini.hasSection("b")).isTrue();
    assertThat(ini.hasSection("c")).isFalse();
    assertThat(ini.entries("c")).isEmpty();
  }

  @Test
  void windowsLineEndingsAndAByteOrderMarkAreAccepted() throws ConfigException {
    IniFile ini = IniFile.parse("\uFEFF[cluster]\r\nnode = a\r\nnode = b\r\n", "f");

    assertThat(ini.values("cluster", "node")).containsExactly("a", "b");
  }

  @Test
  void aLineThatIsNeitherHeaderNorKeyValueIsAnErrorNamingLineAndContent() {
    assertThatThrownBy(() -> IniFile.parse("[cluster]\n\nnode 1.2.3.4\n", "my.conf"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("my.conf:3")
        .hasMessageContaining("node 1.2.3.4");
  }

  @Test
  void malformedHeadersAndEmptyKeysAreErrors() {
    assertThatThrownBy(() -> IniFile.parse("[cluster\n", "f"))
        .hasMessageContaining("f:1")
        .hasMessageContaining("[cluster");
    assertThatThrownBy(() -> IniFile.parse("[]\n", "f")).hasMessageContaining("empty");
    assertThatThrownBy(() -> IniFile.parse("[s]\n = v\n", "f"))
        .hasMessageContaining("f:2")
        .hasMessageContaining("= v");
  }

  @Test
  void aSingleValuedKeyGivenTwiceIsAnErrorNamingBothValues() throws ConfigException {
    IniFile ini = IniFile.parse("[cluster]\nlocalhost = a\nlocalhost = b\n", "f");

    assertThatThrownBy(() -> ini.value("cluster", "localhost"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("f:3")
        .hasMessageContaining("'a'")
        .hasMessageContaining("'b'");
    assertThat(ini.values("cluster", "localhost")).isEqualTo(List.of("a", "b"));
  }
}
