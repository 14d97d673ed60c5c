/**
 * Kept connections of a node agent to its own server: one session that answers many small reads
 * (the role endpoint's checks, the workflows' probes) instead of a TLS handshake, SCRAM and a
 * backend fork for each. Measured on the backup's path: a probe on a new connection took 35-66 ms
 * of the 125 ms before the stream could start; on a kept one it is one round trip.
 *
 * A kept connection that fails (the server restarted, a switchover's stop, the backend
 * terminated) is dropped and the read tried once more on a new one, so a restart never shows as
 * "unreachable" once the server is back. The server's own refusal of a statement (an SQLSTATE
 * outside connection failures) leaves the session as it is, and a read that timed out is not
 * tried again: a server that hangs would otherwise cost two timeouts.
 */
import pg from 'pg';

/** SQLSTATE classes that end the session: connection exceptions (08) and operator intervention (57P: shutdown, crash). */
const SESSION_ENDED = /^(08|57P)/;

/** The error is the server refusing a statement in a session that stays usable. */
function statementRefused(err: unknown): boolean {
  return err instanceof pg.DatabaseError && typeof err.code === 'string' && !SESSION_ENDED.test(err.code);
}

/** pg's query_timeout: the query may still run on the server, and the session waits behind it. */
function timedOut(err: unknown): boolean {
  return (err as Error)?.message === 'Query read timeout';
}

/** The results of `sql` on `client`, one per statement (pg answers a single statement with one result, several with a list). */
export async function queryResults(client: pg.Client, sql: string): Promise<pg.QueryResult[]> {
  const r = (await client.query(sql)) as pg.QueryResult | pg.QueryResult[];
  return Array.isArray(r) ? r : [r];
}

/** One kept connection to a server, opened on first use and again after a failure. */
export class KeptConnection {
  private client: Promise<pg.Client> | undefined;
  private closed = false;
  /** The last read sent (settled or not): the next waits for it. */
  private tail: Promise<unknown> = Promise.resolve();
  constructor(private readonly open: () => Promise<pg.Client>) {}

  /**
   * The results of `sql`, one per statement: several statements go as one simple query (one round
   * trip, one implicit transaction). Only for reads: a failed attempt on a reused session is sent
   * again on a new one.
   */
  results(sql: string): Promise<pg.QueryResult[]> {
    // One at a time: pg queues a second query on a busy client, but that is deprecated (pg 9 drops it).
    const run = this.tail.then(() => this.attempt(sql));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async attempt(sql: string): Promise<pg.QueryResult[]> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error('the kept connection is closed');
      const reused = this.client !== undefined;
      const current = (this.client ??= this.open());
      try {
        return await queryResults(await current, sql);
      } catch (err) {
        if (statementRefused(err)) throw err;
        this.drop(current);
        if (!reused || attempt > 0 || timedOut(err)) throw err;
      }
    }
  }

  /** The first row of a one-statement read. */
  async firstRow(sql: string): Promise<Record<string, unknown>> {
    return (await this.results(sql))[0]!.rows[0];
  }

  private drop(current: Promise<pg.Client>): void {
    if (this.client === current) this.client = undefined;
    void current.then((c) => c.end()).catch(() => undefined);
  }

  /** Ends the session; later reads fail. */
  async close(): Promise<void> {
    this.closed = true;
    const current = this.client;
    this.client = undefined;
    await current?.then((c) => c.end()).catch(() => undefined);
  }
}

/** A process's kept connections by key (one per node its agents serve), all closed together at shutdown. */
export class KeptSessions {
  private readonly kept = new Map<string, KeptConnection>();
  private closed = false;

  /** The kept connection for `key`, made on first ask; undefined once closed (the caller connects as it did before). */
  of(key: string, open: () => Promise<pg.Client>): KeptConnection | undefined {
    if (this.closed) return undefined;
    let k = this.kept.get(key);
    if (!k) this.kept.set(key, (k = new KeptConnection(open)));
    return k;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.kept.values()].map((k) => k.close()));
    this.kept.clear();
  }
}
