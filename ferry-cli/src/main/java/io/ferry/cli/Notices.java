package io.ferry.cli;

import java.io.PrintWriter;

/**
 * What a command says on stderr while it works, besides its result and its error: that it waits, that it goes on
 * without something (a cache it cannot reach). Plain lines starting with the command ({@code ferry warm: warning: …});
 * with {@code --json}, one JSON object per line ({@code {"kind":"warning","message":…}}, docs/json.md), so that stderr
 * holds only JSON lines.
 */
interface Notices {
  /** Something the user may want to know while the command works (it waits for another process). */
  void info(String message);

  /** Something the command goes on without; the result may be less than asked (a cache left unfilled). */
  void warning(String message);

  /** Notices printed on {@code err}, each line flushed. */
  static Notices to(PrintWriter err, String command, boolean json) {
    return new Notices() {
      @Override
      public void info(String message) {
        say("info", message, "");
      }

      @Override
      public void warning(String message) {
        say("warning", message, "warning: ");
      }

      private void say(String kind, String message, String label) {
        err.println(json ? JsonOut.notice(kind, message).toString() : command + ": " + label + message);
        err.flush();
      }
    };
  }
}
