// Apache Kafka from its Maven Central jars, run by the machine's Java as one KRaft node
// (broker and controller in one JVM). Maven only resolves the jars once into
// .viewpulse/cache/kafka/<version>/libs; starting runs `java -cp libs/* kafka.Kafka`.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../lib/config.js';
import { pomProperty, requireJava17, resolveJars } from './maven.js';
import { assetPath, stateDir } from './paths.js';
import { logFile, portOpen, run, runningPid, startDaemon, stopDaemon, waitFor } from './process.js';
import { PrerequisiteError, type NativeService } from './service.js';

const NAME = 'kafka';
const CONTROLLER_PORT = Number(process.env.VIEWPULSE_KAFKA_CONTROLLER_PORT ?? 9093);
const POM = assetPath('kafka', 'pom.xml');

/** The pom is the single pin: bumping <kafka.version> there is all an upgrade takes. */
const KAFKA_VERSION = pomProperty(POM, 'kafka.version');

/** First configured broker; the local node listens there. */
function listenAddress(): { host: string; port: number } {
  const first = loadConfig().kafka.brokers[0] ?? '127.0.0.1:9092';
  const i = first.lastIndexOf(':');
  return { host: first.slice(0, i), port: Number(first.slice(i + 1)) };
}

const libsDir = (): string => join(stateDir('cache', NAME), KAFKA_VERSION, 'libs');
/** Writes the broker config for this checkout's state folders and returns its path. */
function renderConfig(): string {
  const { host, port } = listenAddress();
  const text = readFileSync(assetPath('kafka', 'server.properties'), 'utf8')
    .replaceAll('{{HOST}}', host)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{CONTROLLER_PORT}}', String(CONTROLLER_PORT))
    .replaceAll('{{DATA}}', stateDir('data', NAME));
  const file = join(stateDir('run', NAME), 'server.properties');
  writeFileSync(file, text);
  return file;
}

const jvmArgs = (): string[] => [
  '-Xms256m',
  '-Xmx1g',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${assetPath('kafka', 'log4j2.xml')}`,
  `-Dkafka.logs.dir=${stateDir('logs', NAME)}`,
  '-cp',
  `${libsDir()}/*`,
];

/** A quiet kafkajs client with short timeouts, for probes only. */
function client(retries: number): Kafka {
  const { host, port } = listenAddress();
  return new Kafka({
    clientId: 'viewpulse-probe',
    brokers: [`${host}:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries, initialRetryTime: 100 },
  });
}

/**
 * A started broker creates __consumer_offsets and fetches a producer-id block only on first
 * use, answering COORDINATOR_NOT_AVAILABLE / LOAD_IN_PROGRESS meanwhile. kafkajs retries those
 * but logs them as errors, so trigger both here: the first real group and producer see none.
 */
async function warmUp(): Promise<void> {
  const c = client(10);
  const admin = c.admin();
  const producer = c.producer({ idempotent: true });
  try {
    await admin.connect();
    await admin.describeGroups(['viewpulse-warm-up']);
    await producer.connect();
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

export const kafka: NativeService = {
  name: NAME,
  get address() {
    const { host, port } = listenAddress();
    return `${host}:${port}`;
  },

  async install(log) {
    await requireJava17(`Kafka ${KAFKA_VERSION}`);
    await resolveJars({ pom: POM, libs: libsDir(), what: `Apache Kafka ${KAFKA_VERSION}`, log });
  },

  async start(log) {
    if (runningPid(NAME) && (await this.ready())) return;
    const { port } = listenAddress();
    if (!runningPid(NAME)) {
      for (const p of [port, CONTROLLER_PORT]) {
        if (await portOpen(p)) {
          throw new PrerequisiteError(
            `port ${p} is in use by another process: stop it, or set VIEWPULSE_KAFKA_BROKERS / VIEWPULSE_KAFKA_CONTROLLER_PORT`,
          );
        }
      }
      await this.install(log);
      const config = renderConfig();
      // KRaft needs formatted storage; meta.properties records the cluster id from then on.
      if (!existsSync(join(stateDir('data', NAME), 'meta.properties'))) {
        log('formatting Kafka storage (first start only)');
        // Same format as `kafka-storage random-uuid` (16 random bytes, base64url), minus a JVM start.
        const clusterId = randomBytes(16).toString('base64url');
        await run('java', [
          ...jvmArgs(),
          'kafka.tools.StorageTool',
          'format',
          `--cluster-id=${clusterId}`,
          '--config',
          config,
        ]);
      }
      log(`starting Kafka ${KAFKA_VERSION} on ${this.address}`);
      startDaemon({
        name: NAME,
        command: 'java',
        args: [...jvmArgs(), 'kafka.Kafka', config],
        cwd: stateDir('run', NAME),
      });
    }
    const logs = `see ${logFile(NAME)} and ${join(stateDir('logs', NAME), 'server.log')}`;
    // Also stop waiting as soon as the JVM dies (bad config, port race): no point in 90s more.
    await waitFor('Kafka', async () => !runningPid(NAME) || (await this.ready()), 90_000, logs);
    if (!runningPid(NAME)) throw new Error(`Kafka exited during startup; ${logs}`);
    await warmUp().catch((err: Error) => log(`warm-up incomplete (${err.message}); clients will retry`));
  },

  async ready() {
    const { host, port } = listenAddress();
    if (!(await portOpen(port, host))) return false;
    const admin = client(0).admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.length > 0;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },

  async version() {
    return KAFKA_VERSION;
  },

  async stop() {
    await stopDaemon(NAME);
  },
};
