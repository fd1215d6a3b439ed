// The `viewpulse` command. Only cli/ opens ports and connections; everything else is a
// library it wires together.
import { Command } from 'commander';
import { registerServices } from './services.js';
import { registerDemo } from './demo.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('viewpulse')
    .description('Real-time video analytics on Kafka and ClickHouse')
    .showHelpAfterError()
    .enablePositionalOptions();
  registerServices(program);
  registerDemo(program);
  await program.parseAsync(argv);
}
