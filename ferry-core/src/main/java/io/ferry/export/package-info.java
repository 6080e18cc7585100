/**
 * Writing a stored version in another format than it was pushed in: {@link io.ferry.export.SafetensorsExport} turns
 * PyTorch checkpoints into safetensors, reading every byte through {@link io.ferry.read.ModelReader}'s verified path.
 */
package io.ferry.export;
