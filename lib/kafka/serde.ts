// Confluent wire format: [0x00 magic][4-byte big-endian schema id][Avro binary body].
// Encoding registers the schema once and caches its id; decoding resolves each writer
// schema by id (cached) and, when a reader schema is given, resolves writer → reader so
// records written with older schema versions stay readable.
import avro from 'avsc';
import { ViewpulseError, type ErrorContext } from '../errors.js';
import type { RegistryClient } from './registry.js';

const MAGIC = 0;
const HEADER = 5;

export class AvroSerde<T> {
  private readonly readerType: avro.Type;
  private id: Promise<number> | undefined;
  private readonly writers = new Map<number, Promise<{ type: avro.Type; resolver: avro.Resolver | undefined }>>();

  constructor(
    private readonly registry: RegistryClient,
    readonly subject: string,
    readonly schema: object,
  ) {
    this.readerType = avro.Type.forSchema(schema as avro.Schema, { logicalTypes: {} });
  }

  schemaId(): Promise<number> {
    if (!this.id) {
      this.id = this.registry.register(this.subject, JSON.stringify(this.schema));
      this.id.catch(() => (this.id = undefined));
    }
    return this.id;
  }

  async encode(value: T): Promise<Buffer> {
    const id = await this.schemaId();
    const errors: string[] = [];
    const valid = this.readerType.isValid(value, {
      errorHook: (path) => errors.push(path.join('.') || '(root)'),
    });
    if (!valid)
      throw new ViewpulseError('VP_ERR_ENCODE_AVRO', `invalid field(s): ${errors.join(', ')}`, {
        subject: this.subject,
      });
    const body = this.readerType.toBuffer(value);
    const out = Buffer.allocUnsafe(HEADER + body.length);
    out.writeUInt8(MAGIC, 0);
    out.writeUInt32BE(id, 1);
    body.copy(out, HEADER);
    return out;
  }

  async decode(buf: Buffer, context: ErrorContext = {}): Promise<T> {
    if (buf.length < HEADER || buf.readUInt8(0) !== MAGIC) {
      throw new ViewpulseError('VP_ERR_DECODE_MAGIC', `length ${buf.length}`, context);
    }
    const id = buf.readUInt32BE(1);
    const writer = await this.writer(id, context);
    try {
      return this.readerType.fromBuffer(buf.subarray(HEADER), writer.resolver, false) as T;
    } catch (err) {
      throw new ViewpulseError('VP_ERR_DECODE_AVRO', `schema id ${id}: ${(err as Error).message}`, context, {
        cause: err,
      });
    }
  }

  private writer(id: number, context: ErrorContext): Promise<{ type: avro.Type; resolver: avro.Resolver | undefined }> {
    let p = this.writers.get(id);
    if (!p) {
      p = this.registry.schemaById(id).then((text) => {
        const type = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
        const same = type.equals(this.readerType);
        return { type, resolver: same ? undefined : this.readerType.createResolver(type) };
      });
      p.catch((err: unknown) => {
        this.writers.delete(id);
        if (err instanceof ViewpulseError) Object.assign(err.context, context);
      });
      this.writers.set(id, p);
    }
    return p;
  }
}
