// The schema gate: may this schema be published under this subject? Two rules, both
// checked against EVERY published version (transitive):
//
//  - BACKWARD (asked of the registry, which holds the subject at BACKWARD_TRANSITIVE): the
//    new schema must read every record written with an older one — so a changed type or a
//    new field without a default fails.
//  - FORWARD for removals (checked here): a field may be removed only if it had a default,
//    so consumers still running the older schema can read new records during a rollout.
//
// Problems name the field and the rule, e.g.
//   "PlayEvent.watched_ms: type mismatch: reader has string, writer has long (BACKWARD, against version 1)".
import avro from 'avsc';
import type { RegistryClient } from './registry.js';

export interface GateResult {
  subject: string;
  published: number[];
  ok: boolean;
  problems: string[];
}

interface FieldLike {
  name: string;
  default?: unknown;
}

function recordFields(schema: unknown): FieldLike[] {
  const s = schema as { type?: string; fields?: FieldLike[] };
  return s.type === 'record' && Array.isArray(s.fields) ? s.fields : [];
}

/** Fields of `older` that `newer` dropped although they had no default. */
export function removedWithoutDefault(older: unknown, newer: unknown): string[] {
  const kept = new Set(recordFields(newer).map((f) => f.name));
  return recordFields(older)
    .filter((f) => !kept.has(f.name) && !('default' in f))
    .map((f) => f.name);
}

export async function checkSchema(registry: RegistryClient, subject: string, schema: object): Promise<GateResult> {
  const name = (schema as { name?: string }).name ?? subject;
  const problems: string[] = [];
  try {
    avro.Type.forSchema(schema as avro.Schema);
  } catch (err) {
    return {
      subject,
      published: [],
      ok: false,
      problems: [`${name}: not a valid Avro schema: ${(err as Error).message}`],
    };
  }
  const published = await registry.versions(subject);
  if (published.length === 0) return { subject, published, ok: true, problems };

  const backward = await registry.checkCompatibility(subject, JSON.stringify(schema));
  if (!backward.compatible) {
    const messages = backward.messages.length ? backward.messages : ['incompatible (the registry gave no detail)'];
    for (const m of messages) problems.push(`${name}: ${m} (rule BACKWARD_TRANSITIVE)`);
  }
  for (const version of published) {
    const older = JSON.parse(await registry.schemaVersion(subject, version)) as unknown;
    for (const field of removedWithoutDefault(older, schema)) {
      problems.push(
        `${name}.${field}: removed, but it has no default in version ${version}; consumers still on version ${version} could not read new records (rule: a removed field needs a default — FORWARD)`,
      );
    }
  }
  return { subject, published, ok: problems.length === 0, problems };
}
