/**
 * GGUF, the file format of llama.cpp and Ollama, as a {@link io.ferry.format.TensorFormat}: {@link
 * io.ferry.format.gguf.GgufFormat} reads and validates the header, key-value metadata and tensor infos and returns the
 * layout; {@link io.ferry.format.gguf.GgufMetadata} is what the snapshot records of the metadata. See
 * {@code docs/formats.md}.
 */
package io.ferry.format.gguf;
