/**
 * PyTorch checkpoints ({@code torch.save} zip archives, and the legacy format) as a tensor format, read without running any of their code.
 * {@link io.ferry.format.torch.Unpickler} interprets the pickle opcodes a state dict or training checkpoint uses and
 * builds plain data from them; it accepts an allow-list of globals (the tensor and storage rebuild functions,
 * {@code collections.OrderedDict}) and refuses everything else, naming the global or opcode and its byte position.
 * {@link io.ferry.format.torch.TorchZip} reads the archive's central directory with bounded positional reads;
 * {@link io.ferry.format.torch.TorchCheckpoint} maps each tensor to its storage; {@link
 * io.ferry.format.torch.TorchFormat} turns that into a layout whose tensor regions are the storages. See
 * {@code docs/formats.md}, "PyTorch checkpoints".
 */
package io.ferry.format.torch;
