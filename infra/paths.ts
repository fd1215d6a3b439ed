// Where the native services keep their state: one ignored folder at the project root.
// Layout: .viewpulse/{cache,data,run,logs}/<service>. Override with VIEWPULSE_HOME.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const stateHome = (): string => resolve(process.env.VIEWPULSE_HOME ?? join(projectRoot, '.viewpulse'));

type Area = 'cache' | 'data' | 'run' | 'logs';

/** Returns (and creates) `<stateHome>/<area>/<name>`. */
export function stateDir(area: Area, name: string): string {
  const dir = join(stateHome(), area, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Files shipped in the repository under infra/<service>/ (configs, poms). */
export const assetPath = (...parts: string[]): string => join(projectRoot, 'infra', ...parts);
