/**
 * Hugging Face model directories: the sharded-checkpoint index {@code model.safetensors.index.json}
 * ({@link io.ferry.format.hf.HfIndex}) and its consistency with the shards it lists.
 */
package io.ferry.format.hf;
