// Bundles src/main.ts (with ECharts and src/style.css) and copies index.html
// into the output directory the dashboard embeds.
//
//   node build.mjs [--outdir DIR]     (default: dist/)
//
// dashboard/build.rs runs it (through `npm run build`) with --outdir in
// Cargo's OUT_DIR. The output is deterministic: no timestamps, no hashes
// of paths, so the same sources give the same bytes.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf("--outdir");
const outdir = resolve(at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : join(here, "dist"));
mkdirSync(outdir, { recursive: true });

await build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.ts" },
  outdir,
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  format: "iife",
  legalComments: "eof",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
copyFileSync(join(here, "index.html"), join(outdir, "index.html"));
