/** Bearer tokens (a file of salted SHA-256 hashes, re-read when it changes) and their scopes over model names. */
package io.ferry.server.auth;
