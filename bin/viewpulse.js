#!/usr/bin/env node
// Entry point of the `viewpulse` command: runs the TypeScript CLI through tsx, resolved
// relative to this file so `npx viewpulse` works from any directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
