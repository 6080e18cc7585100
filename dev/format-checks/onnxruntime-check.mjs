// Runs two ONNX files of the all-MiniLM-L6-v2 family with onnxruntime on one tokenized sentence and says whether their
// outputs are identical.
import ort from "onnxruntime-node";
const ids = [101, 7592, 2088, 1010, 2023, 2003, 1037, 3231, 1997, 8860, 102];
async function run(path) {
  const s = await ort.InferenceSession.create(path);
  const n = ids.length;
  const feeds = {};
  for (const name of s.inputNames) {
    const v = name === "input_ids" ? ids : name === "attention_mask" ? ids.map(() => 1) : ids.map(() => 0);
    feeds[name] = new ort.Tensor("int64", BigInt64Array.from(v.map(BigInt)), [1, n]);
  }
  const out = await s.run(feeds);
  return out[s.outputNames[0]].data;
}
const a = await run(process.argv[2]);
const b = await run(process.argv[3]);
let same = a.length === b.length;
for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
console.log("outputs", a.length, "values; first", Array.from(a.slice(0, 4)).map(x => x.toFixed(5)).join(" "), "; identical:", same);
