/** Concurrency building blocks shared by core and backends: thread factories for the pools they own. */
package io.ferry.concurrent;
