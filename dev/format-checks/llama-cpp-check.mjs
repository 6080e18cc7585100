// Loads each GGUF file of a directory with llama.cpp (node-llama-cpp) and prints LOADED or REFUSED with the reason;
// ok.gguf is also evaluated on three tokens. V=1 prints llama.cpp's log (the exact rule it applied).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "node:fs";
// llama.cpp's own reason for refusing a file (ggml's gguf loader, or the model loader after it) is in its log, whose
// messages arrive a little after the call that wrote them
let log = [];
const settle = () => new Promise(r => setTimeout(r, 200));
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: (level, msg) => { log.push(msg); if (process.env.V) process.stderr.write(msg); }});
const dir = process.argv[2];
for (const f of fs.readdirSync(dir).sort()) {
  await settle();
  log = [];
  try {
    const model = await llama.loadModel({modelPath: dir + "/" + f});
    let extra = "";
    if (f === "ok.gguf") {
      const ctx = await model.createContext({contextSize: 32});
      const seq = ctx.getSequence();
      const it = seq.evaluate([1, 2, 3]);
      const r = await it.next();
      extra = " evaluated, next token " + r.value;
      await ctx.dispose();
    }
    console.log(f + ": LOADED" + extra);
    await model.dispose();
  } catch (e) {
    await settle();
    const why = log.find(l => /gguf_init_from|error loading model/.test(l));
    console.log(f + ": REFUSED (" + String(e.message).split("\n")[0] + ")" + (why ? ": " + why.trim() : ""));
  }
}
