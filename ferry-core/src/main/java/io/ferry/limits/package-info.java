/**
 * {@link io.ferry.limits.Limits}: the one set of limits on what a store may hold, checked by every push, and the JSON
 * read constraints, far above them, that every JSON reader of core and the CLI is built with, so that no accepted input
 * can make a store unreadable. Depends only on {@code io.ferry.error} (and Jackson), so that every package that reads
 * JSON, stores and ref logs included, may use it.
 */
package io.ferry.limits;
