// Bundles the extension into dist/extension.js, or (with --tests) transpiles src/ and test/ into out/ for node --test.
import * as esbuild from "esbuild";

const tests = process.argv.includes("--tests");

if (tests) {
  await esbuild.build({
    entryPoints: ["src/**/*.ts", "test/**/*.ts"],
    outdir: "out",
    outbase: ".",
    format: "cjs",
    platform: "node",
    target: "node20",
    sourcemap: "inline",
    logLevel: "warning",
  });
} else {
  await esbuild.build({
    entryPoints: ["src/extension.ts"],
    bundle: true,
    outfile: "dist/extension.js",
    external: ["vscode"],
    format: "cjs",
    platform: "node",
    target: "node20",
    minify: process.argv.includes("--minify") || process.env.NODE_ENV === "production",
    sourcemap: false,
    logLevel: "warning",
  });
}
