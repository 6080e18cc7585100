/**
 * The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the tensor data.
 * {@link io.ferry.format.safetensors.SafetensorsReader} reads and validates the header against the file size
 * without reading the data section.
 */
package io.ferry.format.safetensors;
