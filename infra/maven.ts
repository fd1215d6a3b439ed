// The Java services' shared install steps: the machine's Java 17, and a pom's runtime jars
// resolved once from Maven Central into a cache folder (Kafka, ZooKeeper).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileAsync, run, which } from './process.js';
import { PrerequisiteError } from './service.js';

/** Fails with one line saying what to install unless `java` is version 17 or newer. */
export async function requireJava17(what: string): Promise<void> {
  if (!(await which('java')))
    throw new PrerequisiteError('java not found: install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)');
  // `java -version` prints to stderr, which run() does not return.
  const { stderr } = await execFileAsync('java', ['-version']);
  const major = Number(/version "(\d+)/.exec(stderr)?.[1] ?? 0);
  if (major < 17)
    throw new PrerequisiteError(
      `java ${major || '?'} found but ${what} needs Java 17+: install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)`,
    );
}

/** The `<name>` property of a pom, e.g. `kafka.version`: the pin a service reads its version from. */
export function pomProperty(pom: string, name: string): string {
  const escaped = name.replaceAll('.', '\\.');
  return new RegExp(`<${escaped}>([^<]+)</${escaped}>`).exec(readFileSync(pom, 'utf8'))?.[1] ?? 'unknown';
}

/**
 * Copies the runtime jars of `pom` into `libs` unless a marker beside it holds the pom's hash
 * (present and equal: the jars are complete and current).
 */
export async function resolveJars(o: { pom: string; libs: string; what: string; log: (line: string) => void }) {
  const marker = join(o.libs, '..', '.installed');
  const hash = createHash('sha256').update(readFileSync(o.pom)).digest('hex');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === hash) return;
  if (!(await which('mvn')))
    throw new PrerequisiteError(`mvn not found: install Maven (apt-get install -y maven) to fetch the ${o.what} jars`);
  o.log(`resolving ${o.what} jars from Maven Central (first run only)`);
  // Copy into a scratch folder and rename, so an interrupted download never looks complete.
  const tmp = `${o.libs}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await run('mvn', [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    o.pom,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${tmp}`,
  ]);
  rmSync(o.libs, { recursive: true, force: true });
  renameSync(tmp, o.libs);
  writeFileSync(marker, `${hash}\n`);
}
