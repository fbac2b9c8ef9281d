package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.chronos.cluster.ConfigException;
import org.junit.jupiter.api.Test;

class SitesConfigTest {

  @Test
  void readsTheLocalSiteRemoteSitesAndTheSwitch() throws Exception {
    SitesConfig c =
        SitesConfig.parse(
            "[sites]\nlocal_site = east\nremote_site = west=10.1.0.1\n"
                + "remote_site = north=chronos.north.example:8000  # comment\n"
                + "replicate_timers_across_sites = true\n",
            "shared.conf",
            7253);
    assertThat(c.localSite()).isEqualTo("east");
    assertThat(c.remoteSites())
        .containsExactly(
            java.util.Map.entry("west", "10.1.0.1:7253"),
            java.util.Map.entry("north", "chronos.north.example:8000"));
    assertThat(c.replicateAcrossSites()).isTrue();
  }

  @Test
  void aMissingFileIsOneSiteWithoutReplicationAcrossSites() throws Exception {
    SitesConfig c = SitesConfig.load(Path.of("target/no-such-shared.conf"), 7253);
    assertThat(c.remoteSites()).isEmpty();
    assertThat(c.replicateAcrossSites()).isFalse();
    assertThat(c.newTimerSites(new Random())).containsExactly(c.localSite());
  }

  @Test
  void anUnknownKeyOfSitesIsIgnoredAsTheOriginalIgnoresIt() throws Exception {
    SitesConfig c =
        SitesConfig.parse(
            "[sites]\nlocal_site = a\nremote_sites = b=h1\n", "chronos_shared.conf", 7253);

    assertThat(c.localSite()).isEqualTo("a");
    assertThat(c.remoteSites()).isEmpty();
  }

  @Test
  void aRemoteSiteNamedLikeTheLocalOneIsIgnored() throws Exception {
    SitesConfig c =
        SitesConfig.parse(
            "[sites]\nlocal_site = a\nremote_site = a=1.2.3.4\nremote_site = b=1.2.3.5\n",
            "s",
            7253);
    assertThat(c.remoteSites()).containsOnlyKeys("b");
  }

  @Test
  void malformedLinesAreErrorsNamingTheLine() {
    assertThatThrownBy(() -> SitesConfig.parse("[sites]\nremote_site = nodelimiter\n", "s", 7253))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("s:2")
        .hasMessageContaining("nodelimiter");
    assertThatThrownBy(() -> SitesConfig.parse("[sites]\nremote_site = b=1.2.3.4:99999\n", "s", 1))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("99999");
    assertThatThrownBy(
            () -> SitesConfig.parse("[sites]\nreplicate_timers_across_sites = maybe\n", "s", 1))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("maybe");
    assertThatThrownBy(
            () ->
                SitesConfig.parse(
                    "[sites]\nremote_site = b=1.2.3.4\nremote_site = b=1.2.3.5\n", "s", 1))
        .hasMessageContaining("twice");
  }

  @Test
  void aNewTimerListsTheLocalSiteFirstThenEveryRemoteSite() throws Exception {
    SitesConfig c =
        SitesConfig.parse(
            "[sites]\nlocal_site = a\nremote_site = b=h1\nremote_site = c=h2\nremote_site = d=h3\n"
                + "replicate_timers_across_sites = true\n",
            "s",
            7253);
    for (int seed = 0; seed < 20; seed++) {
      List<String> sites = c.newTimerSites(new Random(seed));
      assertThat(sites.get(0)).isEqualTo("a");
      assertThat(sites).containsExactlyInAnyOrder("a", "b", "c", "d");
    }
  }

  @Test
  void refreshDropsRemovedSitesAndAppendsNewOnesKeepingTheOrder() throws Exception {
    SitesConfig c =
        SitesConfig.parse(
            "[sites]\nlocal_site = a\nremote_site = c=h2\nremote_site = e=h4\n"
                + "replicate_timers_across_sites = true\n",
            "s",
            7253);
    assertThat(c.refresh(List.of("c", "b", "a"))).containsExactly("c", "a", "e");
    List<String> unchanged = List.of("a", "c", "e");
    assertThat(c.refresh(unchanged)).isSameAs(unchanged);
  }

  @Test
  void withReplicationAcrossSitesOffNewTimersStayInTheirSiteButOthersKeepTheirPlace()
      throws Exception {
    SitesConfig c =
        SitesConfig.parse(
            "[sites]\nlocal_site = a\nremote_site = b=h1\nremote_site = c=h2\n", "s", 7253);
    assertThat(c.newTimerSites(new Random())).containsExactly("a");
    // A timer site b sent here (b replicates across sites): a stays second, so it pops after b.
    assertThat(c.refresh(List.of("b", "a"))).containsExactly("b", "a");
    assertThat(c.refresh(List.of("a"))).containsExactly("a");
  }
}
