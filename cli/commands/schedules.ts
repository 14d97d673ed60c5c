import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { table } from '../format.js';
import { invocation } from '../output.js';

interface ScheduleRow {
  name: string;
  type: string;
  cron: string;
  timezone?: string;
  paused?: boolean;
  note?: string | null;
  nextActionTimes?: string[];
  recentActions?: { workflowId: string; takenAt: string }[];
  missing?: boolean;
}

export function renderSchedules(rows: ScheduleRow[]): string {
  return table(
    ['NAME', 'TYPE', 'CRON', 'STATE', 'NEXT RUNS', 'LAST RUN', 'NOTE'],
    rows.map((s) => [
      s.name,
      s.type,
      `${s.cron}${s.timezone ? ` (${s.timezone})` : ''}`,
      s.missing ? 'missing' : s.paused ? 'paused' : 'active',
      (s.nextActionTimes ?? []).slice(0, 2).join(', '),
      s.recentActions?.at(-1)?.workflowId ?? null,
      s.note ?? null,
    ]),
  );
}

export function scheduleCommands(program: Command): void {
  program
    .command('schedules')
    .description("list a cluster's backup schedules with their next run times")
    .argument('<cluster>')
    .action(async (cluster: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      const res = await apiCall<{ schedules: ScheduleRow[] }>(inv.target(), 'GET', `${clusterPath(cluster)}/schedules`);
      inv.print(res, () => renderSchedules(res.schedules));
    });

  const schedule = program.command('schedule').description('pause, unpause or trigger a backup schedule');
  for (const action of ['pause', 'unpause', 'trigger'] as const) {
    schedule
      .command(action)
      .description(`${action} a backup schedule`)
      .argument('<cluster>')
      .argument('<name>', 'schedule name from pgdr.yaml')
      .option('--note <text>', 'why (kept with the schedule)')
      .action(async (cluster: string, name: string, opts: { note?: string }, cmd: Command) => {
        const inv = invocation(cmd);
        const path = `${clusterPath(cluster)}/schedules/${encodeURIComponent(name)}/${action}`;
        const res = await apiCall<ScheduleRow>(inv.target(), 'POST', path, opts.note ? { note: opts.note } : {});
        inv.print(res, () => renderSchedules([res]));
      });
  }
}
