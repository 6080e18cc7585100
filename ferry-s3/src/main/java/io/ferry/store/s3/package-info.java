/**
 * The S3 backend: a Ferry store in a bucket of Amazon S3 or an S3-compatible store, named by {@code s3://bucket/prefix}.
 * Objects are written once with conditional puts; refs are logs of exclusively created entries. See {@link
 * io.ferry.store.s3.S3Backend} for the layout, {@link io.ferry.store.s3.S3Settings} for the settings and {@code
 * docs/s3.md} for the design and its costs.
 */
package io.ferry.store.s3;
