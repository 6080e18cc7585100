/**
 * The request plumbing the server's parts share: checked path segments, bounded bodies, JSON and streamed responses
 * ({@link io.ferry.server.http.Exchange}), byte ranges, errors, routes and the memory budget of whole-object requests.
 */
package io.ferry.server.http;
