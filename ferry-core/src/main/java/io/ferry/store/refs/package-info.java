/**
 * Ref logs built once for every backend: the entry encoding ({@link io.ferry.store.refs.RefLogFormat}) and the
 * numbered ref-log protocol over a {@link io.ferry.store.RecordStore} ({@link io.ferry.store.refs.NumberedRefStore}).
 */
package io.ferry.store.refs;
