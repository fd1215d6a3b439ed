// A small client for the Confluent Schema Registry REST API (any compatible server).
// Schema ids are immutable, so lookups by id are cached forever; registrations are cached
// per (subject, schema text).
import { ViewpulseError } from '../errors.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export type Compatibility =
  'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

export interface CompatibilityResult {
  compatible: boolean;
  messages: string[];
}

export class RegistryClient {
  private readonly byId = new Map<number, Promise<string>>();
  private readonly registered = new Map<string, Promise<number>>();

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private async request<T>(method: string, path: string, body?: unknown, subject?: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { 'content-type': CONTENT_TYPE, accept: CONTENT_TYPE },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ViewpulseError(
        'VP_ERR_REGISTRY_UNAVAILABLE',
        `${method} ${path}: ${(err as Error).message}`,
        { subject },
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const code =
        res.status >= 500
          ? 'VP_ERR_REGISTRY_UNAVAILABLE'
          : res.status === 404 && path.startsWith('/schemas/ids/')
            ? 'VP_ERR_SCHEMA_NOT_FOUND'
            : res.status === 409
              ? 'VP_ERR_SCHEMA_INCOMPATIBLE'
              : 'VP_ERR_REGISTRY_REJECTED';
      throw new ViewpulseError(code, `${method} ${path} → ${res.status} ${text.slice(0, 500)}`, {
        subject,
        status: res.status,
      });
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Registers (or finds) `schema` under `subject`; returns its global id. */
  register(subject: string, schema: string): Promise<number> {
    const key = `${subject}\u0000${schema}`;
    let p = this.registered.get(key);
    if (!p) {
      p = this.request<{ id: number }>(
        'POST',
        `/subjects/${encodeURIComponent(subject)}/versions`,
        { schemaType: 'AVRO', schema },
        subject,
      ).then((r) => r.id);
      p.catch(() => this.registered.delete(key));
      this.registered.set(key, p);
    }
    return p;
  }

  /** The writer schema text for a global id. */
  schemaById(id: number): Promise<string> {
    let p = this.byId.get(id);
    if (!p) {
      p = this.request<{ schema: string }>('GET', `/schemas/ids/${id}`).then((r) => r.schema);
      p.catch(() => this.byId.delete(id));
      this.byId.set(id, p);
    }
    return p;
  }

  async subjects(): Promise<string[]> {
    // Some compatible registries answer `null` for an empty list.
    return (await this.request<string[] | null>('GET', '/subjects')) ?? [];
  }

  async versions(subject: string): Promise<number[]> {
    try {
      return await this.request<number[]>(
        'GET',
        `/subjects/${encodeURIComponent(subject)}/versions`,
        undefined,
        subject,
      );
    } catch (err) {
      if (err instanceof ViewpulseError && err.context.status === 404) return [];
      throw err;
    }
  }

  /** The schema text of one published version of a subject. */
  async schemaVersion(subject: string, version: number): Promise<string> {
    const r = await this.request<{ schema: string }>(
      'GET',
      `/subjects/${encodeURIComponent(subject)}/versions/${version}`,
      undefined,
      subject,
    );
    return r.schema;
  }

  async setCompatibility(subject: string, level: Compatibility): Promise<void> {
    await this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level }, subject);
  }

  /** Checks `schema` against every version the subject's compatibility level requires. */
  async checkCompatibility(subject: string, schema: string): Promise<CompatibilityResult> {
    if ((await this.versions(subject)).length === 0) return { compatible: true, messages: [] };
    const r = await this.request<{ is_compatible: boolean; messages?: string[] }>(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions?verbose=true`,
      { schemaType: 'AVRO', schema },
      subject,
    );
    return { compatible: r.is_compatible, messages: r.messages ?? [] };
  }
}
