/** CPU load for tests of races that only show on a busy host: busy loops, one per core asked. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Burners {
  pids: number[];
  stop(): void;
}

/** Starts n busy-looping processes; stop() kills exactly those (call it in finally/afterAll). */
export function cpuBurners(n = 2): Burners {
  const procs: ChildProcess[] = Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  return {
    pids: procs.map((p) => p.pid!),
    stop() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    },
  };
}
