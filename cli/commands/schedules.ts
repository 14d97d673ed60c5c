import type { Command } from 'commander';
import { apiCall, apiTarget } from '../client.js';
import { table, printableJson } from '../format.js';

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
    .description('list a cluster\'s backup schedules with their next run times')
    .argument('<cluster>')
    .option('--json', 'print the raw answer')
    .action(async (cluster: string, opts: { json?: boolean }) => {
      const res = await apiCall<{ schedules: ScheduleRow[] }>(apiTarget(), 'GET', `/api/v1/clusters/${encodeURIComponent(cluster)}/schedules`);
      console.log(opts.json ? printableJson(res) : renderSchedules(res.schedules));
    });

  const schedule = program.command('schedule').description('pause, unpause or trigger a backup schedule');
  for (const action of ['pause', 'unpause', 'trigger'] as const) {
    schedule
      .command(action)
      .argument('<cluster>')
      .argument('<name>', 'schedule name from pgdr.yaml')
      .option('--note <text>', 'why (kept with the schedule)')
      .action(async (cluster: string, name: string, opts: { note?: string }) => {
        const res = await apiCall<ScheduleRow>(apiTarget(), 'POST', `/api/v1/clusters/${encodeURIComponent(cluster)}/schedules/${encodeURIComponent(name)}/${action}`, opts.note ? { note: opts.note } : {});
        console.log(renderSchedules([res]));
      });
  }
}
