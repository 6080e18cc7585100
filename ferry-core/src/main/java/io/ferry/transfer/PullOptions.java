package io.ferry.transfer;

import io.ferry.scan.PathFilter;

/**
 * Options of a pull.
 *
 * @param verify also check the SHA-256 of every byte (frame checksums are always checked)
 * @param fsync force each file to disk before giving it its final name; off by default, like {@code cp} and {@code
 *     git checkout}: files still appear only complete (temporary name, then atomic rename), but a power loss right
 *     after a pull may lose them
 * @param listener progress
 * @param existing what to do with files already in the directory that are not the version's (see {@link Existing})
 * @param files which of the version's files to pull; a pull of some of them (a selective pull) is a pull of those
 *     files alone: the other files in the directory are not looked at and never removed, even with {@link
 *     Existing#FORCE}
 * @param command the command as the user gave it ({@code pull} by default, {@code checkpoint pull}…), which a refusal
 *     names with the {@code --force} and {@code --merge} that would let the pull go on
 */
public record PullOptions(boolean verify, boolean fsync, TransferListener listener, Existing existing,
    PathFilter files, String command) {
  /**
   * Files already in the directory: those identical to the version's (size and SHA-256) are always kept and not
   * written again. Files that differ from the version's, and files the version does not have, are what this decides.
   */
  public enum Existing {
    /** Refuse the pull, naming them; nothing is written. The default. */
    REFUSE,
    /** Replace the differing files and keep the others. */
    MERGE,
    /** Replace the differing files and remove the others: the directory ends up exactly the version. */
    FORCE
  }

  public PullOptions {
    listener = listener == null ? TransferListener.NONE : listener;
    existing = existing == null ? Existing.REFUSE : existing;
    files = files == null ? PathFilter.ALL : files;
    command = command == null || command.isBlank() ? "pull" : command;
  }

  /** Named {@code pull} in a refusal. */
  public PullOptions(boolean verify, boolean fsync, TransferListener listener, Existing existing,
      PathFilter files) {
    this(verify, fsync, listener, existing, files, "pull");
  }

  /** Every file of the version. */
  public PullOptions(boolean verify, boolean fsync, TransferListener listener, Existing existing) {
    this(verify, fsync, listener, existing, PathFilter.ALL);
  }

  /** Refusing other files in the directory. */
  public PullOptions(boolean verify, boolean fsync, TransferListener listener) {
    this(verify, fsync, listener, Existing.REFUSE);
  }

  public PullOptions withExisting(Existing e) {
    return new PullOptions(verify, fsync, listener, e, files, command);
  }

  /** These options pulling only the files {@code f} takes. */
  public PullOptions withFiles(PathFilter f) {
    return new PullOptions(verify, fsync, listener, existing, f, command);
  }

  /** These options named {@code c} in a refusal, e.g. {@code checkpoint pull}. */
  public PullOptions withCommand(String c) {
    return new PullOptions(verify, fsync, listener, existing, files, c);
  }

  /** No SHA-256 pass, no fsync, no progress. */
  public static PullOptions defaults() {
    return new PullOptions(false, false, TransferListener.NONE);
  }

  public PullOptions withVerify(boolean v) {
    return new PullOptions(v, fsync, listener, existing, files, command);
  }

  public PullOptions withFsync(boolean f) {
    return new PullOptions(verify, f, listener, existing, files, command);
  }

  public PullOptions withListener(TransferListener l) {
    return new PullOptions(verify, fsync, l, existing, files, command);
  }
}
