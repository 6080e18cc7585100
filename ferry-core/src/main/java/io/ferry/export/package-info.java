/**
 * Writing a stored version in another format than it was pushed in ({@code ferry pull --as}): {@link
 * io.ferry.export.SafetensorsExport} turns PyTorch checkpoints into safetensors, {@link io.ferry.export.TorchExport}
 * safetensors into PyTorch zip checkpoints; {@link io.ferry.export.Export} writes the files and renames them into place.
 * Every byte is read through {@link io.ferry.read.ModelReader}'s verified path.
 */
package io.ferry.export;
