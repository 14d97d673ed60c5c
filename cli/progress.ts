/**
 * Follows an operation until it ends, drawing one progress line: the workflow's step (its
 * `progress` query) and the heartbeat of the running activity (bytes, %, LSN).
 */
import { apiCall, type ApiTarget } from './client.js';
import { bytes } from './format.js';

export interface Operation {
  workflowId: string;
  status: string;
  uiUrl: string;
  progress: { step?: string } | null;
  activities: { type: string | null; attempt: number; heartbeat: Record<string, unknown> | null; lastFailure: string | null }[];
  result?: unknown;
  failure?: { message: string; type: string | null; details: unknown };
}

export function progressLine(op: Operation): string {
  const parts = [op.progress?.step ?? op.status.toLowerCase()];
  for (const a of op.activities) {
    const h = a.heartbeat ?? {};
    const bits: string[] = [];
    if (typeof h.bytes === 'number') bits.push(bytes(h.bytes) + (typeof h.totalBytes === 'number' ? ` of ${bytes(h.totalBytes)}` : ''));
    if (typeof h.percent === 'number') bits.push(`${h.percent}%`);
    if (typeof h.lsn === 'string') bits.push(`lsn ${h.lsn}`);
    if (typeof h.replayLsn === 'string')
      bits.push(`replayed to ${h.replayLsn}${typeof h.lastCommit === 'string' ? ` (commit ${h.lastCommit})` : ''}`);
    if (typeof h.lagBytes === 'number')
      bits.push(
        `${typeof h.standby === 'string' ? `${h.standby} ` : ''}${typeof h.state === 'string' ? `${h.state}, ` : ''}lag ${bytes(h.lagBytes)}`,
      );
    if (typeof h.waitingFor === 'string') bits.push(`waiting for ${h.waitingFor}`);
    if (typeof h.members === 'string') bits.push(h.members);
    if (a.attempt > 1) bits.push(`attempt ${a.attempt}${a.lastFailure ? ` after: ${a.lastFailure.split('\n')[0]}` : ''}`);
    if (bits.length) parts.push(`${a.type}: ${bits.join(', ')}`);
  }
  return parts.join(' | ');
}

export async function follow(
  target: ApiTarget | null,
  workflowId: string,
  /** `get`: how the operation is read (default the API's GET /api/v1/operations/...; the embedded engine of --standalone reads it itself). */
  opts: { intervalMs?: number; out?: NodeJS.WriteStream; get?: (workflowId: string) => Promise<Operation> } = {},
): Promise<Operation> {
  const out = opts.out ?? process.stderr;
  const tty = out.isTTY;
  let last = '';
  for (;;) {
    const op = opts.get
      ? await opts.get(workflowId)
      : await apiCall<Operation>(target ?? failNoTarget(), 'GET', `/api/v1/operations/${workflowId}`);
    const line = progressLine(op);
    if (line !== last) {
      if (tty) out.write(`\r\x1b[2K${line}`);
      else out.write(`${line}\n`);
      last = line;
    }
    if (op.status !== 'RUNNING') {
      if (tty) out.write('\n');
      return op;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
  }
}

function failNoTarget(): never {
  throw new Error('follow: neither an API target nor a way to read the operation was given');
}
