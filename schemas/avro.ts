// Loads the Avro contracts from schemas/avro/ so every module uses the same parsed schema.
import { readFileSync } from 'node:fs';

const load = (file: string): object =>
  JSON.parse(readFileSync(new URL(`./avro/${file}`, import.meta.url), 'utf8')) as object;

export const playEventSchema = (): object => load('PlayEvent.avsc');
export const videoSchema = (): object => load('Video.avsc');
