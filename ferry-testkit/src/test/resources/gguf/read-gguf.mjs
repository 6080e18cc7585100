// Reads each GGUF file named on the command line with node-llama-cpp's readGgufFileInfo (llama.cpp's JavaScript
// reader of headers, metadata and tensor infos; no native code) and prints the ggml types it knows,
//   {"ggmlTypes": {ID: NAME}}
// then one JSON line per file, in order:
//   {"file", "ok": true, "version", "tensorCount", "dataStart", "metadata": {KEY: VALUE}, "tensors": [{"name",
//    "dims" (innermost first, as in the file), "type" (ggml id), "typeName", "offset" (in the data), "fileOffset"}]}
//   {"file", "ok": false, "error"}            the reader threw
//   {"file", "ok": false, "hung": true, ...}  the reader ran for more than TIMEOUT_MS (or past its memory limit)
// Values are tagged so that nothing is lost in JSON: {"n": "1.5"} a number (u8 to i32, f32, f64), {"b": "123"} a
// bigint (u64, i64), {"z": true} a boolean, {"s": "text"} a string, {"a": [...]} an array. readGgufFileInfo nests
// keys at their dots ("a.b" becomes {a: {b: v}}); they are joined back here.
// The reader runs in worker threads (GGUF_READ_WORKERS, 4), so that a file that makes it loop (it reads zeros past the
// end of a file) is stopped after GGUF_READ_TIMEOUT_MS and reported instead of hanging the test; a stopped worker is
// replaced.
import {Worker, isMainThread, parentPort} from "node:worker_threads";

const TIMEOUT_MS = Number(process.env.GGUF_READ_TIMEOUT_MS ?? 5000);
const LANES = Number(process.env.GGUF_READ_WORKERS ?? 4);

if (isMainThread) {
  const files = process.argv.slice(2);
  const results = new Array(files.length);
  let next = 0; // the next file any worker takes
  let ggmlTypes = null;
  const runWorker = () => new Promise((resolve) => {
    const worker = new Worker(new URL(import.meta.url), {resourceLimits: {maxOldGenerationSizeMb: 512}});
    let current = -1;
    let timer = null;
    const take = () => { // after the worker's first message ("ready": node-llama-cpp loaded), so loading is not timed
      clearTimeout(timer);
      if (next >= files.length) {
        current = -1;
        worker.terminate();
        return;
      }
      current = next++;
      const mine = current;
      timer = setTimeout(() => {
        results[mine] = {file: files[mine], ok: false, hung: true, error: "no answer within " + TIMEOUT_MS + " ms"};
        current = -1;
        worker.terminate();
      }, TIMEOUT_MS);
      worker.postMessage(files[mine]);
    };
    let done = false;
    const finish = (why) => {
      if (current >= 0 && results[current] === undefined) {
        results[current] = {file: files[current], ok: false, hung: true, error: "worker died: " + why};
      }
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve();
      }
    };
    worker.on("message", (line) => {
      if (!line.ready) results[current] = line;
      else ggmlTypes = line.ggmlTypes;
      take();
    });
    worker.on("error", (e) => finish(String(e && e.message)));
    worker.on("exit", (code) => finish("exit " + code));
  });
  const lane = async () => {
    while (next < files.length) await runWorker();
  };
  await Promise.all(Array.from({length: Math.min(LANES, files.length)}, lane));
  process.stdout.write(JSON.stringify({ggmlTypes}) + "\n");
  for (const r of results) process.stdout.write(JSON.stringify(r) + "\n");
} else {
  const {readGgufFileInfo, GgmlType} = await import("node-llama-cpp");
  const ggmlTypes = Object.fromEntries(Object.entries(GgmlType).filter(([k]) => /^[0-9]+$/.test(k)));
  parentPort.postMessage({ready: true, ggmlTypes});
  const number = (v) => Object.is(v, -0) ? "-0" : String(v); // NaN, Infinity, or the shortest decimal
  const value = (v) => {
    if (typeof v === "bigint") return {b: v.toString()};
    if (typeof v === "number") return {n: number(v)};
    if (typeof v === "boolean") return {z: v};
    if (typeof v === "string") return {s: v};
    if (Array.isArray(v)) return {a: v.map(value)};
    throw new Error("unexpected metadata value of type " + typeof v);
  };
  const flatten = (prefix, obj, out) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix === null ? k : prefix + "." + k;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(key, v, out);
      else out[key] = value(v);
    }
    return out;
  };
  parentPort.on("message", async (file) => {
    let line;
    try {
      const info = await readGgufFileInfo(file, {logWarnings: false, spliceSplitFiles: false});
      line = {
        file, ok: true, version: info.version, tensorCount: String(info.tensorCount),
        dataStart: info.infoEndOffset == null ? null : String(info.infoEndOffset),
        metadata: flatten(null, info.metadata, {}),
        tensors: (info.tensorInfo ?? []).map((t) => ({
          name: t.name, dims: t.dimensions.map(String), type: t.ggmlType, typeName: GgmlType[t.ggmlType] ?? null, offset: String(t.offset),
          fileOffset: String(t.fileOffset)
        }))
      };
    } catch (e) {
      line = {file, ok: false, error: String(e && e.message ? e.message : e).split("\n")[0]};
    }
    parentPort.postMessage(line);
  });
}
