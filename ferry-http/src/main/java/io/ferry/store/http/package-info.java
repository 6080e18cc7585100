/**
 * The {@code http://} and {@code https://} backend: a client of one or more Ferry servers ({@code ferry serve}) that
 * maps the storage SPI onto the server's protocol ({@code docs/http-api.md}), with chunk reads spread over the
 * servers, retried, hedged, and kept away from servers that fail. See {@link io.ferry.store.http.HttpBackend} and
 * {@code docs/http-store.md}.
 */
package io.ferry.store.http;
