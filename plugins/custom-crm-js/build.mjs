// Builds custom-crm-js.wasm: bundles plugin.js with the SDK (plugins/sdk-js)
// and its JSON schemas (imported as text) into one ES module with rolldown,
// then componentizes it with @bytecodealliance/componentize-js against
// wit/v0.1.0 (the `mapper` world). Both tools are pinned in
// plugins/toolchains/package.json; NODE_PATH must reach their node_modules
// (plugins/toolchains/install.sh puts them in .toolchains/js).
//
//   node build.mjs [OUT.wasm]
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "custom-crm-js.wasm"));
// The toolchain's node_modules: NODE_PATH (ES modules ignore it by default,
// so packages are resolved here from their package.json `exports`).
const modules = process.env.NODE_PATH;
if (!modules) throw new Error("set NODE_PATH to the toolchain's node_modules (.toolchains/js/node_modules)");
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
  resolve: { alias: { "./dialsync_sdk.js": join(here, "../sdk-js/dialsync_sdk.js") } },
  plugins: [
    {
      // JSON files are imported as their text (schemas are passed on verbatim).
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
  witPath: join(here, "../../wit/v0.1.0"),
  worldName: "mapper",
  // The mapper world imports no HTTP; keep the component to WASI p2 basics.
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
