// The `viewpulse` command. Only cli/ opens ports and connections; everything else is a
// library it wires together.
import { Command } from 'commander';
import { registerCatalog } from './catalog.js';
import { registerDemo } from './demo.js';
import { registerGenerate } from './generate.js';
import { registerMigrate } from './migrate.js';
import { registerReplay } from './replay.js';
import { registerRun } from './run.js';
import { registerSchemas } from './schemas.js';
import { registerServices } from './services.js';
import { registerSql } from './sql.js';
import { registerStatus } from './status.js';
import { registerToken } from './token.js';
import { registerVerify } from './verify.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('viewpulse')
    .description('Real-time video analytics on Kafka and ClickHouse')
    .showHelpAfterError()
    .enablePositionalOptions();
  registerServices(program);
  registerMigrate(program);
  registerSchemas(program);
  registerCatalog(program);
  registerGenerate(program);
  registerRun(program);
  registerToken(program);
  registerDemo(program);
  registerSql(program);
  registerVerify(program);
  registerReplay(program);
  registerStatus(program);
  await program.parseAsync(argv);
}
