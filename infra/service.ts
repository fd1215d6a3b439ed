// What every native service offers the `services` command.

/** A missing prerequisite or a busy port: one line saying what and how to fix it. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

export interface ServiceStatus {
  name: string;
  address: string;
  version: string;
  state: 'up' | 'down';
}

export interface NativeService {
  /** Short name used in pid files, logs and the status table, e.g. `kafka`. */
  name: string;
  /** host:port the service answers on. */
  address: string;
  /** Installs what is missing. Cached: a second call downloads nothing. */
  install(log: (line: string) => void): Promise<void>;
  /** Starts the server if it is not already running and waits until it really answers. */
  start(log: (line: string) => void): Promise<void>;
  /** True when the service really answers (not just a port open). */
  ready(): Promise<boolean>;
  /** True when it runs with another configuration than wanted (joining a replica set): start() restarts it. */
  stale?(): boolean;
  /** Version string of the running service (or of the installed one). */
  version(): Promise<string>;
  /** Stops what `start` started (pid files), leaving no process behind. */
  stop(): Promise<void>;
}
