import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config.js';

describe('loadConfig', () => {
  it('has local defaults for every setting', () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(c.registry.url).toBe('http://127.0.0.1:8081');
    expect(c.clickhouse.url).toBe('http://127.0.0.1:8123');
    expect(c.collector.port).toBe(3001);
    expect(c.api.port).toBe(3000);
  });

  it('reads the environment', () => {
    const c = loadConfig({
      VIEWPULSE_KAFKA_BROKERS: 'a:1, b:2',
      VIEWPULSE_API_PORT: '8080',
      VIEWPULSE_TOPIC_PREFIX: 'test.',
    });
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.api.port).toBe(8080);
    expect(c.kafka.topicPrefix).toBe('test.');
  });

  it.each([
    ['VIEWPULSE_API_PORT', 'abc'],
    ['VIEWPULSE_API_PORT', '70000'],
    ['VIEWPULSE_KAFKA_BROKERS', 'no-port'],
    ['VIEWPULSE_REGISTRY_URL', 'ftp://x'],
    ['VIEWPULSE_CLICKHOUSE_DATABASE', 'bad-name; DROP'],
    ['VIEWPULSE_JWT_SECRET', 'short'],
    ['VIEWPULSE_WRITE_KEYS', 'abc'],
    ['VIEWPULSE_LOG_LEVEL', 'loud'],
    ['VIEWPULSE_TOPIC_PREFIX', 'a/b'],
  ])('names the variable when %s=%j is invalid', (name, value) => {
    try {
      loadConfig({ [name]: value });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(name);
      expect((err as Error).message).toContain(name);
    }
  });
});
