/**
 * Leases: how core keeps gc from deleting what a running push (or copy) needs, on every backend, with nothing but a
 * {@link io.ferry.store.RecordStore}. See {@link io.ferry.lease.Leases} for the protocol and docs/gc.md for why it is
 * safe.
 */
package io.ferry.lease;
