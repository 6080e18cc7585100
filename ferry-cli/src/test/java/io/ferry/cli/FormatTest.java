package io.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Random;
import java.util.TimeZone;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;

/** The CLI's times and sizes. Changes the JVM's default time zone for a moment, so it runs alone. */
@Isolated
class FormatTest {

  @Test
  void timesAreTheWallClockOfTheSystemZoneAcrossDaylightSavingAndOddOffsets() {
    TimeZone saved = TimeZone.getDefault();
    Random r = new Random(3);
    try {
      for (String zone : new String[] {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
          "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns", "Africa/Monrovia", "Europe/Amsterdam"}) {
        TimeZone.setDefault(TimeZone.getTimeZone(zone));
        DateTimeFormatter expected = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.of(zone));
        for (int i = 0; i < 2000; i++) {
          // 1900 to 2100, and the hours around this zone's transitions in 2026 most of all
          long s = i < 1000 ? -2_208_988_800L + (long) (r.nextDouble() * 6_311_433_600L)
              : 1_767_225_600L + r.nextInt(365 * 86_400);
          Instant t = Instant.ofEpochSecond(s);
          assertThat(Format.time(t)).as(zone + " " + t).isEqualTo(expected.format(t));
        }
      }
    } finally {
      TimeZone.setDefault(saved);
    }
  }

  /** Instants no clock makes (a ref log entry a raw client wrote) are shown as stored, not "long overflow". */
  @Test
  void instantsBeyondAMillisecondClockArePrintedAsStored() {
    assertThat(Format.time(Instant.MAX)).isEqualTo("+1000000000-12-31T23:59:59.999999999Z");
    assertThat(Format.time(Instant.MIN)).isEqualTo("-1000000000-01-01T00:00:00Z");
    assertThat(Format.time(Instant.parse("+10000-01-01T00:00:00Z"))).isEqualTo("+10000-01-01T00:00:00Z");
  }

  /** gc printed its grace as ISO-8601 ("younger than PT1H"), and a huge one as PT2562047788015215H30M7S. */
  @Test
  void durationsArePrintedAsUsersWriteThemAndRoundTrip() {
    assertThat(Format.duration(java.time.Duration.ofHours(1))).isEqualTo("1h");
    assertThat(Format.duration(java.time.Duration.ofDays(7))).isEqualTo("7d");
    assertThat(Format.duration(java.time.Duration.ofSeconds(90))).isEqualTo("90s");
    assertThat(Format.duration(java.time.Duration.ofMinutes(30))).isEqualTo("30m");
    assertThat(Format.duration(java.time.Duration.ofMillis(250))).isEqualTo("250ms");
    assertThat(Format.duration(java.time.Duration.ZERO)).isEqualTo("0s");
    assertThat(Format.duration(java.time.Duration.ofSeconds(Long.MAX_VALUE))).isEqualTo(Long.MAX_VALUE + "s");
    assertThat(Format.duration(java.time.Duration.ofNanos(1500))).isEqualTo("PT0.0000015S");
    for (java.time.Duration d : new java.time.Duration[] {java.time.Duration.ofDays(1_000_000_000_000L),
        java.time.Duration.ofMillis(123_456_789), java.time.Duration.ofSeconds(Long.MAX_VALUE)}) {
      assertThat(DurationConverter.parse(Format.duration(d))).as("%s read back", d).isEqualTo(d);
    }
  }

  @Test
  void sizesAreBytesBelowOneKibibyteThenOneDecimalOfTheUnit() {
    assertThat(Format.bytes(0)).isEqualTo("0 B");
    assertThat(Format.bytes(1023)).isEqualTo("1023 B");
    assertThat(Format.bytes(1024)).isEqualTo("1.0 KiB");
    assertThat(Format.bytes(1536)).isEqualTo("1.5 KiB");
    assertThat(Format.bytes(1024L * 1024 - 1)).isEqualTo("1024.0 KiB");
    assertThat(Format.bytes(400L << 30)).isEqualTo("400.0 GiB");
    assertThat(Format.bytes(Long.MAX_VALUE)).isEqualTo("8.0 EiB");
  }

  /** Columns as a terminal draws them: CJK and fullwidth characters two, combining marks none, others one. */
  @Test
  void paddingCountsTheColumnsATerminalDraws() {
    assertThat(Format.columns("layer.0.weight")).isEqualTo(14);
    assertThat(Format.columns("\u5c64.\uac00\uff21")).isEqualTo(7);
    assertThat(Format.columns("e\u0301")).isEqualTo(1);
    assertThat(Format.columns("\ud83d\ude00")).isEqualTo(2);
    assertThat(Format.padded("\u5c64\u306e", 6)).isEqualTo("\u5c64\u306e  ");
    assertThat(Format.padded("abcdef", 4)).isEqualTo("abcdef");
  }
}
