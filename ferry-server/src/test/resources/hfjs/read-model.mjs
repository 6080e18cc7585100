// Reads a model from a Ferry server with Hugging Face's own JavaScript client (@huggingface/hub):
// node read-model.mjs HUB_URL REPO REVISION [TOKEN] -> one JSON line: model info and every file's size and SHA-256.
import { listFiles, downloadFile, modelInfo } from "@huggingface/hub";
import { createHash } from "node:crypto";

const [hubUrl, repo, revision, token] = process.argv.slice(2);
const auth = token ? { accessToken: token } : {};
const info = await modelInfo({ name: repo, hubUrl, ...auth, additionalFields: ["sha"] });
const out = { name: info.name, sha: info.sha, files: {} };
for await (const f of listFiles({ repo, revision, hubUrl, recursive: true, ...auth })) {
  if (f.type !== "file") continue;
  const blob = await downloadFile({ repo, path: f.path, revision, hubUrl, ...auth });
  const bytes = Buffer.from(await blob.arrayBuffer());
  out.files[f.path] = {
    listedSize: f.size,
    lfsOid: f.lfs ? f.lfs.oid : null,
    length: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}
console.log(JSON.stringify(out));
