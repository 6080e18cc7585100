// Resolves and downloads a GGUF model from a Ferry server with node-llama-cpp (llama.cpp's JavaScript package), by a
// Hugging Face model URI such as hf:org/name:Q8_0, the Hugging Face endpoint set to the server, and with LOAD=1 loads
// it with llama.cpp (the prebuilt CPU binary):
//   node resolve-model.mjs ENDPOINT URI DIR
// -> one JSON line: the file's name in DIR, its SHA-256, the general.name and tensor names that node-llama-cpp's GGUF
//    reader reads from it, and with LOAD=1 the context size llama.cpp loaded and the token count of "abc".
import { resolveModelFile, readGgufFileInfo, getLlama } from "node-llama-cpp";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const [endpoint, uri, dir] = process.argv.slice(2);
const path = await resolveModelFile(uri, { directory: dir, endpoints: { huggingFace: endpoint }, cli: false });
const info = await readGgufFileInfo(path);
const out = {
  file: basename(path),
  sha256: createHash("sha256").update(await readFile(path)).digest("hex"),
  name: info.metadata.general.name,
  tensors: info.fullTensorInfo.map((t) => t.name),
};
if (process.env.LOAD === "1") {
  const llama = await getLlama({ gpu: false, build: "never" });
  const model = await llama.loadModel({ modelPath: path });
  out.trainContextSize = model.trainContextSize;
  out.tokens = model.tokenize("abc").length;
  await model.dispose();
  await llama.dispose();
}
console.log(JSON.stringify(out));
