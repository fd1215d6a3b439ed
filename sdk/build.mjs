// Builds the SDK package into sdk/dist and checks its size:
//   dist/viewpulse.min.js  one minified ESM file for browsers (esbuild), everything bundled
//   dist/*.d.ts            type declarations (tsc, sdk/tsconfig.build.json)
// and prints raw and gzip sizes against the budget; exits 1 when over it.
// Run: `node sdk/build.mjs` from the repository, or `npm run build` in sdk/; `--outdir DIR`
// builds elsewhere (the unit test does). esbuild and typescript come from the repository's
// node_modules (the package has no dependencies).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** gzip budget for the whole bundle (tracker + monitor), bytes. */
const GZIP_BUDGET = 5 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf('--outdir');
const custom = at > 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : undefined;
const dist = custom ?? join(here, 'dist');
const out = join(dist, 'viewpulse.min.js');

if (!custom) rmSync(dist, { recursive: true, force: true }); // a clean sdk/dist; a directory passed in is left as it is

await build({
  entryPoints: [join(here, 'index.ts')],
  outfile: out,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  tsconfig: join(here, 'tsconfig.build.json'),
  legalComments: 'none',
  logLevel: 'warning',
});

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });

const code = readFileSync(out);
const gzip = gzipSync(code, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
const verdict = gzip <= GZIP_BUDGET ? 'within' : 'OVER';
const shown = relative(process.cwd(), out).startsWith('..') ? out : relative(process.cwd(), out);
console.log(`${shown}: ${code.length} bytes (${kb(code.length)}), gzip ${gzip} bytes (${kb(gzip)})`);
console.log(`size budget: gzip ${gzip} / ${GZIP_BUDGET} bytes (${kb(GZIP_BUDGET)}): ${verdict}`);
if (gzip > GZIP_BUDGET) process.exitCode = 1;
