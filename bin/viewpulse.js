#!/usr/bin/env node
// Entry point of the `viewpulse` command: runs the TypeScript CLI through tsx, resolved
// relative to this file so `npx viewpulse` works from any directory.
import { createRequire } from 'node:module';
import { register } from 'tsx/esm/api';

// before anything loads kafkajs: its producer's per-send grouping in linear time (see the file)
createRequire(import.meta.url)('../lib/kafka/kafkajs-linear-grouping.cjs');
register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
