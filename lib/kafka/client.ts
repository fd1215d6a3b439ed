// kafkajs client construction in one place, with kafkajs' own logs routed to ours.
import { Kafka, logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

const toPino =
  (logger: Logger): logCreator =>
  () =>
  ({ level, log }) => {
    const { message, ...extra } = log;
    if (level === KafkaLogLevel.ERROR) logger.error(extra, message);
    else if (level === KafkaLogLevel.WARN) logger.warn(extra, message);
    else if (level === KafkaLogLevel.INFO) logger.debug(extra, message);
  };

export function createKafka(config: Config['kafka'], logger?: Logger, clientId = config.clientId): Kafka {
  return new Kafka({
    clientId,
    brokers: config.brokers,
    logLevel: logger ? KafkaLogLevel.WARN : KafkaLogLevel.NOTHING,
    logCreator: logger ? toPino(logger.child({ component: 'kafkajs' })) : undefined,
    retry: { initialRetryTime: 200, retries: 8 },
  });
}
