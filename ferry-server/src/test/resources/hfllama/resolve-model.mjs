// Resolves and downloads a GGUF model from a Ferry server with node-llama-cpp (llama.cpp's JavaScript package), by a
// Hugging Face model URI such as hf:org/name:Q8_0, the Hugging Face endpoint set to the server:
//   node resolve-model.mjs ENDPOINT URI DIR [TOKEN]
// -> one JSON line: the file's name in DIR, its SHA-256, and the general.name and tensor names that node-llama-cpp's
//    GGUF reader reads from it.
import { resolveModelFile, readGgufFileInfo } from "node-llama-cpp";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [endpoint, uri, dir, token] = process.argv.slice(2);
const path = await resolveModelFile(uri, {
  directory: dir,
  endpoints: { huggingFace: endpoint },
  cli: false,
  ...(token ? { tokens: { huggingFace: token } } : {}),
});
const info = await readGgufFileInfo(path);
console.log(JSON.stringify({
  file: basename(path),
  sha256: createHash("sha256").update(await readFile(path)).digest("hex"),
  name: info.metadata.general.name,
  tensors: info.fullTensorInfo.map((t) => t.name),
}));
