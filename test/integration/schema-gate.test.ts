// The schema gate against the real registry: compatible evolution passes; removing a field
// without a default or changing a type fails with a message naming the field and the rule.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMPATIBILITY, publishSchemas } from '../../lib/kafka/publish-schemas.js';
import { RegistryClient } from '../../lib/kafka/registry.js';
import { checkSchema } from '../../lib/kafka/schema-gate.js';
import { loadConfig } from '../../lib/config.js';

const registry = new RegistryClient(loadConfig().registry.url);
const subject = `it-gate-${randomUUID().slice(0, 8)}-value`;

const v1 = {
  type: 'record',
  name: 'Probe',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
    { name: 'label', type: 'string', default: '' },
  ],
};
const withFields = (fields: object[]): object => ({ ...v1, fields });

describe('schema gate', () => {
  beforeAll(async () => {
    await registry.setCompatibility(subject, COMPATIBILITY);
    await registry.register(subject, JSON.stringify(v1));
  });

  it('passes a schema that adds an optional field with a default', async () => {
    const r = await checkSchema(
      registry,
      subject,
      withFields([...v1.fields, { name: 'note', type: ['null', 'string'], default: null }]),
    );
    expect(r).toMatchObject({ ok: true, problems: [], published: [1] });
  });

  it('passes removing a field that had a default', async () => {
    const r = await checkSchema(registry, subject, withFields(v1.fields.slice(0, 2)));
    expect(r.ok).toBe(true);
  });

  it('fails removing a field without a default, naming the field and the rule', async () => {
    const r = await checkSchema(registry, subject, withFields([v1.fields[0]!, v1.fields[2]!]));
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/Probe\.count: removed, but it has no default in version 1.*FORWARD/);
  });

  it('fails changing a type, naming the field and the rule', async () => {
    const r = await checkSchema(
      registry,
      subject,
      withFields([v1.fields[0]!, { name: 'count', type: 'string' }, v1.fields[2]!]),
    );
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/count.*(string|long).*BACKWARD_TRANSITIVE/);
  });

  it('fails adding a field without a default', async () => {
    const r = await checkSchema(registry, subject, withFields([...v1.fields, { name: 'extra', type: 'int' }]));
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/extra/);
  });

  it('refuses an invalid Avro schema before asking the registry', async () => {
    const r = await checkSchema(registry, subject, {
      type: 'record',
      name: 'Bad',
      fields: [{ name: 'x', type: 'nope' }],
    });
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/not a valid Avro schema/);
  });

  it('publishes the project schemas under a prefix at BACKWARD_TRANSITIVE, twice without change', async () => {
    const prefix = `it-gate-${randomUUID().slice(0, 8)}.`;
    const first = await publishSchemas(registry, prefix);
    const second = await publishSchemas(new RegistryClient(loadConfig().registry.url), prefix);
    expect(second).toEqual(first);
    expect(Object.keys(first).sort()).toEqual([`${prefix}play-events-value`, `${prefix}videos-value`]);
  });
});
