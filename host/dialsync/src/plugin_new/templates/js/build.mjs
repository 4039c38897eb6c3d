// Builds plugin.wasm: bundles plugin.js with dialsync_sdk.js and the schemas
// (JSON imported as text) into one ES module with rolldown, then componentizes
// it with @bytecodealliance/componentize-js against wit/v0.1.0 (`mapper`).
//
//   npm install && node build.mjs [OUT.wasm]
//
// The packages are found in ./node_modules, or in NODE_PATH when it is set.
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "plugin.wasm"));
const modules = process.env.NODE_PATH || join(here, "node_modules");
// ES modules ignore NODE_PATH, so packages are resolved from their package.json.
async function load(name) {
  const dir = join(modules, ...name.split("/"));
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  let entry = pkg.exports?.["."] ?? pkg.exports ?? pkg.module ?? pkg.main;
  while (entry && typeof entry === "object") entry = entry.import ?? entry.node ?? entry.default;
  return import(pathToFileURL(join(dir, entry)).href);
}
const { rolldown } = await load("rolldown");
const { componentize } = await load("@bytecodealliance/componentize-js");

const bundle = await rolldown({
  input: join(here, "plugin.js"),
  external: [/^dialsync:/],
  plugins: [
    {
      name: "json-as-text",
      async load(id) {
        if (!id.endsWith(".json")) return null;
        const text = await readFile(id, "utf8");
        return { code: `export default ${JSON.stringify(text)};`, moduleType: "js" };
      },
    },
  ],
});
const { output } = await bundle.generate({ format: "esm" });
const { component } = await componentize(output[0].code, {
  witPath: join(here, "wit/v0.1.0"),
  worldName: "mapper",
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
