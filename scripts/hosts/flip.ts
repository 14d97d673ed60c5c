/**
 * How long HAProxy's write listener takes to follow a switchover: while `run` switches over,
 * new connections go every intervalMs both straight to the candidate (is it out of recovery
 * yet?) and through the listener (which server answers, and is it a standby?). The flip is the
 * time from the first poll that found the candidate promoted to the first connection the
 * listener handed to it (answered); its resolution is one poll of each. Every answer the listener gave is returned, so a
 * caller can check that writes were never handed to a standby.
 */
export interface ListenerAnswer {
  addr: string;
  standby: boolean;
}

export async function followWriteFlip(o: {
  /** True once the candidate answers out of recovery; null when it does not answer. */
  candidatePromoted: () => Promise<boolean | null>;
  /** A new connection through the listener; null when refused (no server for a moment). */
  throughListener: () => Promise<ListenerAnswer | null>;
  candidateAddr: string;
  intervalMs: number;
  /** Starts the switchover and resolves when it has finished. */
  run: () => Promise<void>;
  /** How long after `run` the listener may still take to reach the candidate. */
  settleMs: number;
}): Promise<{ flipMs: number; answers: ListenerAnswer[] }> {
  const answers: ListenerAnswer[] = [];
  let promotedAt = 0;
  let reachedAt = 0;
  let stop = false;
  const pause = () => new Promise((r) => setTimeout(r, o.intervalMs));
  // Two loops, not one: a connection through the listener may wait in HAProxy's queue while no
  // server is up, and must not hold back the poll that times the promotion.
  const watchCandidate = (async () => {
    while (!stop && !promotedAt) {
      if (await o.candidatePromoted().catch(() => null)) promotedAt = Date.now();
      else await pause();
    }
  })();
  // New connections through the listener start every intervalMs, each on its own (up to 50 at
  // once): one held in HAProxy's queue while no server is up does not delay the next.
  const inFlight = new Set<Promise<void>>();
  const watchListener = (async () => {
    while (!stop && !reachedAt) {
      if (inFlight.size < 50) {
        const attempt: Promise<void> = o
          .throughListener()
          .catch(() => null)
          .then((answer) => {
            if (!answer) return;
            answers.push(answer);
            if (answer.addr === o.candidateAddr && !answer.standby && !reachedAt) reachedAt = Date.now();
          })
          .finally(() => inFlight.delete(attempt));
        inFlight.add(attempt);
      }
      await pause();
    }
    await Promise.all(inFlight);
  })();
  const poll = Promise.all([watchCandidate, watchListener]);
  try {
    await o.run();
    const deadline = Date.now() + o.settleMs;
    while (!(reachedAt && promotedAt) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } finally {
    stop = true;
    await poll;
  }
  if (!promotedAt) throw new Error(`${o.candidateAddr} was not seen out of recovery within ${o.settleMs} ms of the switchover's end`);
  if (!reachedAt) throw new Error(`the write listener did not reach ${o.candidateAddr} within ${o.settleMs} ms of the switchover's end`);
  // A listener connection queued in HAProxy can be answered by the new primary before the direct
  // poll sees the promotion: that is no delay at all.
  return { flipMs: Math.max(0, reachedAt - promotedAt), answers };
}
