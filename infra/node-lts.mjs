// Runs the unit tests on the current Node LTS as well (Node 24), whatever Node runs this: the
// `node` package from the npm registry carries the binary, installed once into
// .viewpulse/cache/node-<major> and reused. `npm run test:node24`; CI runs it after `npm test`.
// Plain JavaScript, like ensure-deps.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAJOR = 24;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const home = process.env.VIEWPULSE_HOME || join(root, '.viewpulse');
const prefix = join(home, 'cache', `node-${MAJOR}`);
const node = join(prefix, 'node_modules', '.bin', 'node');

if (!existsSync(node)) {
  console.error(
    `[viewpulse] installing Node ${MAJOR} from the npm registry (the node@${MAJOR} package) into ${prefix}`,
  );
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, `node@${MAJOR}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
if (!version.startsWith(`v${MAJOR}.`)) throw new Error(`${node} is ${version}, expected Node ${MAJOR}`);
console.error(`[viewpulse] unit tests on Node ${version}`);
execFileSync(node, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--project', 'unit'], {
  cwd: root,
  stdio: 'inherit',
});
