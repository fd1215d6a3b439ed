// Chromium for the browser tests: Debian's `chromium` package, installed through apt-get like
// the other native prerequisites. Never a browser download (`npx playwright install` is not
// used here): playwright-core drives the system browser through `executablePath`.
import { existsSync } from 'node:fs';
import { aptInstall, run, which } from './process.js';
import { PrerequisiteError } from './service.js';

/** Where Debian (and Ubuntu's deb) put the browser; `chromium` on PATH is checked too. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

/** Flags every headless run here uses: no GPU, no sandbox (root in CI), no network chatter. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** The installed Chromium executable, or undefined. `VIEWPULSE_CHROMIUM` overrides the search. */
export async function findChromium(): Promise<string | undefined> {
  const override = process.env.VIEWPULSE_CHROMIUM;
  if (override) return existsSync(override) ? override : undefined;
  for (const p of CANDIDATES) if (existsSync(p)) return p;
  return (await which('chromium')) ?? (await which('chromium-browser'));
}

/**
 * Returns the path of a Chromium executable, installing Debian's `chromium` with apt-get when
 * it is missing. Throws PrerequisiteError (with the command to run) when it is missing and
 * cannot be installed, e.g. without root.
 */
export async function ensureChromium(log: (line: string) => void = () => undefined): Promise<string> {
  const found = await findChromium();
  if (found) return found;
  if (process.env.VIEWPULSE_CHROMIUM) {
    throw new PrerequisiteError(`VIEWPULSE_CHROMIUM=${process.env.VIEWPULSE_CHROMIUM} does not exist`);
  }
  const hint =
    'run `sudo apt-get install -y --no-install-recommends chromium` (Debian package), or set VIEWPULSE_CHROMIUM';
  if (process.getuid?.() !== 0) throw new PrerequisiteError(`chromium not found and not root: ${hint}`);
  log('installing chromium from Debian packages (apt-get)');
  try {
    await aptInstall(['chromium']);
  } catch (err) {
    throw new PrerequisiteError(`installing chromium failed (${(err as Error).message.slice(0, 400)}): ${hint}`);
  }
  const installed = await findChromium();
  if (!installed) throw new PrerequisiteError(`apt-get installed chromium but no executable was found: ${hint}`);
  return installed;
}

/** `Chromium 156.0.8078.79 built on Debian …` → the version line, for logs and reports. */
export async function chromiumVersion(executable: string): Promise<string> {
  return (await run(executable, ['--version'])).trim();
}
