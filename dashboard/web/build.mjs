// Bundles src/main.ts (with ECharts and src/style.css) and copies index.html
// into the output directory the dashboard embeds.
//
//   node build.mjs [--outdir DIR]     (default: dist/)
//   node build.mjs --tests DIR        unit tests (tests/unit/*.test.ts) as
//                                     ES modules for `node --test DIR`
//
// dashboard/build.rs runs it (through `npm run build`) with --outdir in
// Cargo's OUT_DIR. The output is deterministic: no timestamps, no hashes
// of paths, so the same sources give the same bytes.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

const tests = process.argv.indexOf("--tests");
if (tests >= 0) {
  const dir = resolve(process.argv[tests + 1] ?? join(here, "dist-tests"));
  const unit = join(here, "tests/unit");
  await build({
    absWorkingDir: here,
    entryPoints: readdirSync(unit)
      .filter((f) => f.endsWith(".test.ts"))
      .map((f) => join(unit, f)),
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "warning",
  });
  process.exit(0);
}

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
