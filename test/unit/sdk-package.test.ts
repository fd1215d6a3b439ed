// The SDK as a package (sdk/package.json, sdk/build.mjs): one command builds the minified
// browser bundle and the type declarations and prints the gzip size against the budget; the
// bundle works on its own; the package stands alone (no dependencies, its own event types,
// identical to the repository's).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import type * as Sdk from '../../sdk/index.js';
import { SDK_VERSION, type SentEvent } from '../../sdk/player.js';
import type * as SdkTypes from '../../sdk/types.js';
import type * as Schema from '../../schemas/types.js';

const pkg = JSON.parse(readFileSync(new URL('../../sdk/package.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;

describe('the SDK package', () => {
  it('is ESM with types, side-effect free, with no runtime dependencies, versioned like SDK_VERSION', () => {
    expect(pkg).toMatchObject({
      name: '@viewpulse/sdk',
      type: 'module',
      sideEffects: false,
      exports: { '.': { types: './dist/index.d.ts', import: './dist/viewpulse.min.js' } },
      scripts: { build: 'node build.mjs' },
    });
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.peerDependencies).toBeUndefined();
    expect(SDK_VERSION).toBe(`viewpulse-js/${String(pkg.version)}`);
  });

  it("has the repository's event types (checked by the type checker)", () => {
    expectTypeOf<SdkTypes.PlayEvent>().toEqualTypeOf<Schema.PlayEvent>();
    expectTypeOf<SdkTypes.EventType>().toEqualTypeOf<Schema.EventType>();
    expectTypeOf<SdkTypes.TrafficSource>().toEqualTypeOf<Schema.TrafficSource>();
    expectTypeOf<SdkTypes.Device>().toEqualTypeOf<Schema.Device>();
  });

  describe('node sdk/build.mjs', () => {
    const out = mkdtempSync(join(tmpdir(), 'viewpulse-sdk-'));
    afterAll(() => rmSync(out, { recursive: true, force: true }));
    let printed = '';

    it('builds the bundle and the declarations in one command and prints the sizes within the budget', () => {
      printed = execFileSync(process.execPath, ['sdk/build.mjs', '--outdir', out], { encoding: 'utf8' });
      const files = readdirSync(out).sort();
      expect(files).toEqual([
        'index.d.ts',
        'monitor.d.ts',
        'player.d.ts',
        'retry.d.ts',
        'split.d.ts',
        'types.d.ts',
        'uuid.d.ts',
        'viewpulse.min.js',
      ]);
      const code = readFileSync(join(out, 'viewpulse.min.js'));
      const gzip = gzipSync(code, { level: 9 }).length;
      expect(printed).toContain(`${code.length} bytes`);
      expect(printed).toContain(`gzip ${gzip} / 5120 bytes (5.00 KB): within`);
      expect(gzip).toBeLessThanOrEqual(5 * 1024);
      // the declarations stand alone: nothing imported from outside the package
      for (const f of files.filter((name) => name.endsWith('.d.ts'))) {
        expect(readFileSync(join(out, f), 'utf8')).not.toMatch(/from '\.\.\//);
      }
    }, 60_000);

    it('the minified bundle alone runs a monitor end to end', async () => {
      const sdk = (await import(pathToFileURL(join(out, 'viewpulse.min.js')).href)) as typeof Sdk;
      expect(Object.keys(sdk).sort()).toEqual(['DROP_REASONS', 'SDK_VERSION', 'createTracker', 'monitor']);
      let t = 1_736_942_400_000;
      const bodies: { events: SentEvent[] }[] = [];
      const media = Object.assign(new EventTarget(), {
        currentTime: 0,
        duration: 60,
        paused: true,
        playbackRate: 1,
        currentSrc: 'https://cdn.example.test/a.mp4',
        error: null,
        readyState: 4,
      });
      const m = sdk.monitor(media, {
        endpoint: 'https://collect.example.test',
        writeKey: 'vp_test_write_key',
        fetch: async (_url, init) => {
          bodies.push(JSON.parse(init.body) as { events: SentEvent[] });
          return { status: 200, headers: new Headers(), json: async () => ({ accepted: 1, rejected: [] }) };
        },
        now: () => t,
        videoId: 'video-1',
        viewerId: 'viewer-1',
      });
      media.paused = false;
      media.dispatchEvent(new Event('play'));
      t += 300;
      media.dispatchEvent(new Event('playing'));
      t += 5_000;
      media.currentTime = 5;
      media.paused = true;
      media.dispatchEvent(new Event('pause'));
      await m.destroy();
      const events = bodies.flatMap((b) => b.events);
      expect(events.map((e) => [e.event_type, e.position_ms, e.watched_ms, e.startup_ms, e.sdk_version])).toEqual([
        ['play_start', 0, 0, 300, SDK_VERSION],
        ['pause', 5_000, 5_000, null, SDK_VERSION],
        ['play_end', 5_000, 0, null, SDK_VERSION],
      ]);
    });
  });
});
