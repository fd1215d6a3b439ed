// Publishing the Avro contracts: every subject in schemas/subjects.ts is held at
// BACKWARD_TRANSITIVE and its schema registered only after the gate passed.
import { SUBJECTS, subjectName } from '../../schemas/subjects.js';
import { ViewpulseError } from '../errors.js';
import type { RegistryClient } from './registry.js';
import { checkSchema, type GateResult } from './schema-gate.js';

export const COMPATIBILITY = 'BACKWARD_TRANSITIVE';

/** Runs the gate for every schema in the tree against what the registry has published. */
export function checkAllSchemas(registry: RegistryClient, prefix = ''): Promise<GateResult[]> {
  return Promise.all(SUBJECTS.map((spec) => checkSchema(registry, subjectName(spec, prefix), spec.schema())));
}

/** Gate, then set compatibility and register. Returns subject → schema id. */
export async function publishSchemas(registry: RegistryClient, prefix = ''): Promise<Record<string, number>> {
  const results = await checkAllSchemas(registry, prefix);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new ViewpulseError('VP_ERR_SCHEMA_INCOMPATIBLE', failed.flatMap((r) => r.problems).join('; '));
  }
  const ids: Record<string, number> = {};
  for (const spec of SUBJECTS) {
    const subject = subjectName(spec, prefix);
    await registry.setCompatibility(subject, COMPATIBILITY);
    ids[subject] = await registry.register(subject, JSON.stringify(spec.schema()));
  }
  return ids;
}
