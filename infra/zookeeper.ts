// Apache ZooKeeper from its Maven Central jars, run by the machine's Java as one standalone
// server: the coordination a ClickHouse replica set needs (replicated tables keep their parts
// log and replica queues there). Maven resolves the jars once into
// <state home>/cache/zookeeper/<version>/libs; starting runs ZooKeeperServerMain from there.
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { pomProperty, requireJava17, resolveJars } from './maven.js';
import { assetPath, stateDir } from './paths.js';
import { logFile, portOpen, runningPid, startDaemon, stopDaemon, waitFor } from './process.js';
import { PrerequisiteError, type NativeService } from './service.js';

const POM = assetPath('zookeeper', 'pom.xml');
export const ZOOKEEPER_VERSION = pomProperty(POM, 'zookeeper.version');
const libsDir = (): string => join(stateDir('cache', 'zookeeper'), ZOOKEEPER_VERSION, 'libs');

export interface ZooKeeperSpec {
  /** pid file, data and log folders: <state home>/{run,data,logs}/<name> */
  name: string;
  /** client port on 127.0.0.1 */
  port: number;
}

/** Sends a four-letter command and returns the answer ('' when nothing answers). */
export function fourLetters(port: number, command: 'srvr', timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const socket = createConnection({ port, host: '127.0.0.1' }, () => socket.write(command));
    const done = (): void => {
      socket.destroy();
      resolve(out);
    };
    socket.setTimeout(timeoutMs, done);
    socket.on('data', (b: Buffer) => (out += b.toString()));
    socket.once('end', done);
    socket.once('error', done);
  });
}

/** A ZooKeeper server as a native service; `spec` is read at each call (ports may come from the environment). */
export function zookeeperServer(spec: () => ZooKeeperSpec): NativeService {
  const renderConfig = (): string => {
    const { name, port } = spec();
    const text = readFileSync(assetPath('zookeeper', 'zoo.cfg'), 'utf8')
      .replaceAll('{{DATA}}', stateDir('data', name))
      .replaceAll('{{PORT}}', String(port));
    const file = join(stateDir('run', name), 'zoo.cfg');
    writeFileSync(file, text);
    return file;
  };
  return {
    get name() {
      return spec().name;
    },
    get address() {
      return `127.0.0.1:${spec().port}`;
    },

    async install(log) {
      await requireJava17(`ZooKeeper ${ZOOKEEPER_VERSION}`);
      await resolveJars({ pom: POM, libs: libsDir(), what: `Apache ZooKeeper ${ZOOKEEPER_VERSION}`, log });
    },

    async start(log) {
      const { name, port } = spec();
      if (runningPid(name) && (await this.ready())) return;
      if (!runningPid(name)) {
        if (await portOpen(port))
          throw new PrerequisiteError(
            `port ${port} is in use by another process: stop it, or set VIEWPULSE_ZOOKEEPER_PORT`,
          );
        await this.install(log);
        const config = renderConfig();
        log(`starting ZooKeeper ${ZOOKEEPER_VERSION} on ${this.address}`);
        startDaemon({
          name,
          command: 'java',
          args: [
            '-Xms64m',
            '-Xmx256m',
            '-Djava.awt.headless=true',
            // slf4j-simple to stderr, which startDaemon appends to <name>.log
            '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
            '-Dorg.slf4j.simpleLogger.showDateTime=true',
            '-Dzookeeper.jmx.log4j.disable=true',
            '-cp',
            `${libsDir()}/*`,
            'org.apache.zookeeper.server.ZooKeeperServerMain',
            config,
          ],
          cwd: stateDir('run', name),
        });
      }
      const logs = `see ${logFile(name)}`;
      await waitFor('ZooKeeper', async () => !runningPid(name) || (await this.ready()), 60_000, logs);
      if (!runningPid(name)) throw new Error(`ZooKeeper exited during startup; ${logs}`);
    },

    async ready() {
      // `ruok` answers imok as soon as the port is bound, before sessions are served; `srvr`
      // names the mode only once the server runs ("not currently serving requests" before)
      return /\bMode: /.test(await fourLetters(spec().port, 'srvr'));
    },

    async version() {
      // "Zookeeper version: 3.9.5-..., built on ..." from a running server, else the pin
      const srvr = await fourLetters(spec().port, 'srvr');
      return /version: ([0-9.]+)/.exec(srvr)?.[1] ?? ZOOKEEPER_VERSION;
    },

    async stop() {
      await stopDaemon(spec().name);
    },
  };
}
