/**
 * Which formats a push knows and how a file is matched to one: {@link io.ferry.format.registry.FormatRegistry}, the
 * built-in formats plus those found by {@link java.util.ServiceLoader}.
 */
package io.ferry.format.registry;
