// Processor instances as real child processes: harness/processes.ts (shared with the benchmarks).
export * from '../../harness/processes.js';
