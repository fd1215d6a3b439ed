// Integration tests run against the real Kafka, Schema Registry and ClickHouse. When they
// are not running (a fresh clone, `npm test` alone), start them through the same code path
// as `viewpulse services up`, and stop them again afterwards.
import { servicesDown, servicesStatus, servicesUp } from '../../infra/services.js';

export default async function setup(): Promise<(() => Promise<void>) | void> {
  const before = await servicesStatus();
  const down = before.filter((s) => s.state !== 'up').map((s) => s.name);
  if (down.length === 0) {
    console.log(`[integration] using running services: ${before.map((s) => `${s.name} ${s.version}`).join(', ')}`);
    return;
  }
  console.log(`[integration] starting services: ${down.join(', ')}`);
  const rows = await servicesUp((line) => console.log(`[integration] ${line}`), down);
  console.log(`[integration] services: ${rows.map((s) => `${s.name} ${s.version} ${s.state}`).join(', ')}`);
  return async () => {
    await servicesDown((line) => console.log(`[integration] ${line}`), down);
  };
}
