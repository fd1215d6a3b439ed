// The `viewpulse` command. Only cli/ opens ports and connections; everything else is a
// library it wires together.
import { Command } from 'commander';
import { registerServices } from './services.js';
import { registerDemo } from './demo.js';
import { registerMigrate } from './migrate.js';
import { registerSchemas } from './schemas.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('viewpulse')
    .description('Real-time video analytics on Kafka and ClickHouse')
    .showHelpAfterError()
    .enablePositionalOptions();
  registerServices(program);
  registerMigrate(program);
  registerSchemas(program);
  registerDemo(program);
  await program.parseAsync(argv);
}
