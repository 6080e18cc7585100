// Loads a model from a Ferry server with Hugging Face's transformers.js (@huggingface/transformers), its remote host set
// to the server, and runs it once on CPU:
//   FERRY_TOKEN=hf_... node run-model.mjs HOST REPO REVISION CACHE_DIR
// -> one JSON line: the config's model type, the output's dims and values for input_ids [[1, 2, 3, 4]] and
//    attention_mask [[1, 1, 1, 0]].
import { env, AutoConfig, AutoModel, Tensor } from "@huggingface/transformers";

const [host, repo, revision, cacheDir] = process.argv.slice(2);
env.remoteHost = host.endsWith("/") ? host : host + "/";
env.remotePathTemplate = "{model}/resolve/{revision}/";
env.allowLocalModels = false;
env.allowRemoteModels = true;
env.cacheDir = cacheDir;
// transformers.js sends HF_TOKEN only to huggingface.co; for another host its documented hook is env.fetch
const token = process.env.FERRY_TOKEN;
if (token) {
  const plain = env.fetch;
  env.fetch = (url, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${token}`);
    return plain(url, { ...init, headers });
  };
}

const config = await AutoConfig.from_pretrained(repo, { revision });
const model = await AutoModel.from_pretrained(repo, { revision, dtype: "fp32", device: "cpu" });
const ids = new Tensor("int64", BigInt64Array.from([1n, 2n, 3n, 4n]), [1, 4]);
const mask = new Tensor("int64", BigInt64Array.from([1n, 1n, 1n, 0n]), [1, 4]);
const out = await model({ input_ids: ids, attention_mask: mask });
const h = out.last_hidden_state;
console.log(JSON.stringify({ modelType: config.model_type, dims: h.dims, data: Array.from(h.data) }));
