// `viewpulse schemas check` (npm run schemas:check): the schema gate for every schema in
// the tree against every version the registry has published.
import type { Command } from 'commander';
import { loadConfig } from '../lib/config.js';
import { checkAllSchemas } from '../lib/kafka/publish-schemas.js';
import { RegistryClient } from '../lib/kafka/registry.js';

export function registerSchemas(program: Command): void {
  const schemas = program.command('schemas').description('Avro contract governance');
  schemas
    .command('check')
    .description('fail unless every schema in schemas/avro/ is compatible with every published version')
    .action(async () => {
      const config = loadConfig();
      try {
        const results = await checkAllSchemas(new RegistryClient(config.registry.url), config.kafka.topicPrefix);
        for (const r of results) {
          const against = r.published.length ? `versions ${r.published.join(', ')}` : 'nothing published yet';
          console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.subject} (against ${against})`);
          for (const p of r.problems) console.log(`     ${p}`);
        }
        if (results.some((r) => !r.ok)) process.exitCode = 1;
      } catch (err) {
        console.error(`viewpulse schemas check: ${(err as Error).message}`);
        process.exitCode = 1;
      }
    });
}
