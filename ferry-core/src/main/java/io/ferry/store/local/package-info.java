/**
 * The local-disk backend, Ferry's embedded default: a store in a directory, named by a {@code file:} URI. Objects are
 * files published by atomic links; each ref is its own append-only, checksummed log. See {@link
 * io.ferry.store.local.LocalBackend} for the layout and {@link io.ferry.store.refs.RefLogFormat} for the line format of its logs.
 */
package io.ferry.store.local;
