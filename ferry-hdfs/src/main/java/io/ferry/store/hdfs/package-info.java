/**
 * The HDFS backend: a Ferry store in a directory of HDFS, named by an {@code hdfs://} or {@code webhdfs://} URI.
 * Objects are files published by atomic renames; each ref is a directory of immutable, numbered log entries whose
 * exclusive creation is the compare-and-swap. See {@link io.ferry.store.hdfs.HdfsBackend} for the layout and
 * {@code docs/hdfs.md} for why the ref moves are linearizable.
 */
package io.ferry.store.hdfs;
