/**
 * The {@code cassandra://} backend: objects as parts of at most 1 MiB with a completion row, small records (ref logs,
 * leases) in a table partitioned by parent path and written with lightweight transactions, refs as core's numbered ref
 * log over those records. See {@code docs/cassandra.md}.
 */
package io.ferry.store.cassandra;
