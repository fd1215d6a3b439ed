// A checkout under a private directory (a home folder of mode 700, a `mktemp -d` folder):
// `services up` must still bring up PostgreSQL — which runs as the `postgres` OS user when we
// are root and cannot reach into such a directory — and the schema registry on it, and a schema
// must survive a restart of both. Runs a second PostgreSQL and registry on other ports.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/paths.js';

const exec = promisify(execFile);
const PG_PORT = '25433';
const REGISTRY = 'http://127.0.0.1:28081';

let parent: string;
let clone: string;
/** The clone's own .viewpulse (VIEWPULSE_HOME unset), as a user who just cloned has. */
function cloneEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, VIEWPULSE_POSTGRES_PORT: PG_PORT, VIEWPULSE_REGISTRY_URL: REGISTRY };
  delete e.VIEWPULSE_HOME;
  return e;
}
const viewpulse = (...args: string[]) =>
  exec(process.execPath, [join(clone, 'bin', 'viewpulse.js'), ...args], { cwd: clone, env: cloneEnv() });

async function schemaVersions(): Promise<number[]> {
  const res = await fetch(`${REGISTRY}/subjects/private-clone-test-value/versions`);
  return res.ok ? ((await res.json()) as number[]) : [];
}

describe('services up from a clone under a mode-700 directory', () => {
  beforeAll(async () => {
    parent = mkdtempSync(join(tmpdir(), 'vp-private-'));
    chmodSync(parent, 0o700);
    clone = join(parent, 'viewpulse');
    await exec('git', ['clone', '--quiet', '--no-hardlinks', projectRoot, clone]);
    symlinkSync(join(projectRoot, 'node_modules'), join(clone, 'node_modules'));
  }, 120_000);
  afterAll(async () => {
    await viewpulse('services', 'down', 'registry', 'postgres').catch(() => undefined);
    const marker = join(clone, '.viewpulse', 'data', 'postgres', 'LOCATION');
    if (existsSync(marker)) rmSync(readFileSync(marker, 'utf8').split('\n')[0]!, { recursive: true, force: true });
    rmSync(parent, { recursive: true, force: true });
  });

  it('PostgreSQL and the registry come up, and a registered schema survives a restart of both', async () => {
    const up = await viewpulse('services', 'up', 'postgres', 'registry');
    expect(up.stdout + up.stderr).not.toContain('cannot write');
    const status = await viewpulse('services', 'status', 'postgres', 'registry');
    expect(status.stdout).toMatch(/postgres\s+127\.0\.0\.1:25433\s+\S+\s+up/);
    expect(status.stdout).toMatch(/registry\s+127\.0\.0\.1:28081\s+\S+\s+up/);

    const schema = JSON.stringify({ type: 'record', name: 'T', fields: [{ name: 'a', type: 'int' }] });
    const res = await fetch(`${REGISTRY}/subjects/private-clone-test-value/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema }),
    });
    expect(res.status).toBe(200);
    expect(await schemaVersions()).toEqual([1]);

    await viewpulse('services', 'down', 'registry', 'postgres');
    await viewpulse('services', 'up', 'postgres', 'registry');
    expect(await schemaVersions()).toEqual([1]);
  }, 300_000);
});
