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
    expect(c.kafka.compression).toBe('none');
  });

  it('compresses play events with gzip only when asked, and refuses another codec by name', () => {
    expect(loadConfig({ VIEWPULSE_KAFKA_COMPRESSION: 'gzip' }).kafka.compression).toBe('gzip');
    expect(() => loadConfig({ VIEWPULSE_KAFKA_COMPRESSION: 'zstd' })).toThrow(/VIEWPULSE_KAFKA_COMPRESSION/);
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

  it('takes ClickHouse replicas from VIEWPULSE_CLICKHOUSE_URLS, else the one VIEWPULSE_CLICKHOUSE_URL', () => {
    const one = loadConfig({ VIEWPULSE_CLICKHOUSE_URL: 'http://h:1/' });
    expect([one.clickhouse.url, one.clickhouse.urls, one.clickhouse.cluster]).toEqual([
      'http://h:1',
      ['http://h:1'],
      '',
    ]);
    const set = loadConfig({
      VIEWPULSE_CLICKHOUSE_URL: 'http://ignored:1',
      VIEWPULSE_CLICKHOUSE_URLS: 'http://a:8123, http://b:8124',
      VIEWPULSE_CLICKHOUSE_CLUSTER: 'viewpulse',
    });
    expect(set.clickhouse.url).toBe('http://a:8123');
    expect(set.clickhouse.urls).toEqual(['http://a:8123', 'http://b:8124']);
    expect(set.clickhouse.cluster).toBe('viewpulse');
  });

  it.each([
    ['VIEWPULSE_CLICKHOUSE_URLS', 'http://a:1,ftp://b'],
    ['VIEWPULSE_CLICKHOUSE_CLUSTER', 'a cluster'],
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
