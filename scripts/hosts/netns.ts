/**
 * Test hosts on one machine: each host is a network namespace with its own address on a bridge
 * the harness creates (198.18.0.0/15, the range reserved for network benchmarks; nothing is
 * routed beyond the machine), plus a mount namespace in which the other hosts' state directories
 * are masked by an empty read-only tmpfs and its own state directory is bound at one common path.
 *
 * A host is held by one long-lived "holder" process (`sleep infinity`) that owns its mount and
 * UTS namespaces (its hostname is the host's name, so a Temporal worker's default identity,
 * pid@hostname, names the host). Everything that runs "on" a host enters the holder's namespaces
 * with nsenter. Tearing down kills every process in each namespace, deletes the namespaces and the
 * bridge; leftovers() lists anything that survived, and the harness test asserts it is empty.
 *
 * Needs root (ip netns, unshare, nsenter from util-linux and iproute2).
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../stack/procs.js';

export interface HostSpec {
  name: string;
  /** The host's addresses on the bridge (the first is its main one). */
  addresses: string[];
  /**
   * System directories this host gets a private copy of (source: under its state directory,
   * machine's view), e.g. Debian's /etc/postgresql, so a host's cluster registry is its own.
   */
  binds?: { source: string; target: string }[];
}

export interface NetPlan {
  /** Short tag in every name (namespaces, links): lets a test harness run beside a person's. */
  tag: string;
  /** The bridge's (the machine's own) address on the subnet: what processes outside every host use. */
  gateway: string;
  prefixLength: number;
  hosts: HostSpec[];
  /** Each host's state directory (masked for the others): stateDirOf(host). */
  stateDirOf: (host: string) => string;
  /** Where every host sees its own state directory (a bind mount): one path in the config, per-host data behind it. */
  localDir: string;
}

export const nsName = (tag: string, host: string) => `pgdr${tag}-${host}`;
export const bridgeName = (tag: string) => `pgdr${tag}-br`;
/** The root side of a host's veth pair (at most 15 characters: tag ≤ 3, host ≤ 6). */
export const vethName = (tag: string, host: string) => `pgdr${tag}-${host}`;

function checkNames(plan: NetPlan): void {
  if (!/^[a-z0-9]{1,3}$/.test(plan.tag)) throw new Error(`hosts tag is "${plan.tag}": expected 1 to 3 lowercase letters or digits`);
  for (const h of plan.hosts) {
    if (!/^[a-z][a-z0-9]{0,5}$/.test(h.name)) throw new Error(`host name is "${h.name}": expected up to 6 lowercase letters or digits`);
    for (const a of h.addresses)
      if (!/^198\.1[89]\.\d{1,3}\.\d{1,3}$/.test(a)) throw new Error(`host ${h.name} address is "${a}": expected one in 198.18.0.0/15`);
  }
}

async function ip(args: string[]): Promise<void> {
  await execa('ip', args);
}

function holderPidFile(plan: NetPlan, host: string): string {
  return join(plan.stateDirOf(host), 'holder.pid');
}

/** The holder's pid of a host, if it runs. */
export function holderPid(plan: NetPlan, host: string): number | undefined {
  const f = holderPidFile(plan, host);
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** The argv prefix that runs a command on `host` (in its network, mount and UTS namespaces). */
export function onHost(plan: NetPlan, host: string): string[] {
  const pid = holderPid(plan, host);
  if (!pid) throw new Error(`host ${host} is not up (no holder process): run the harness's up first`);
  return ['nsenter', '-t', String(pid), '--net', '--mount', '--uts', '--'];
}

/** The mount commands a host's holder runs before it sleeps: masks, its private system directories, then its own state at localDir. */
function holderScript(plan: NetPlan, host: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = [`hostname ${q(host)}`];
  for (const other of plan.hosts) {
    if (other.name === host) continue;
    lines.push(`mount -t tmpfs -o ro,size=16k,mode=0555 pgdr-masked ${q(plan.stateDirOf(other.name))}`);
  }
  for (const b of plan.hosts.find((h) => h.name === host)?.binds ?? [])
    lines.push(`mkdir -p ${q(b.source)} ${q(b.target)}`, `mount --bind ${q(b.source)} ${q(b.target)}`);
  lines.push(`mount --bind ${q(plan.stateDirOf(host))} ${q(plan.localDir)}`);
  lines.push('exec sleep infinity');
  return lines.join(' && ');
}

/** Creates the bridge and every host (idempotent: a host already up is left as it is). */
export async function netUp(plan: NetPlan): Promise<void> {
  checkNames(plan);
  const br = bridgeName(plan.tag);
  if (!existsSync(`/sys/class/net/${br}`)) {
    await ip(['link', 'add', br, 'type', 'bridge']);
    await ip(['addr', 'add', `${plan.gateway}/${plan.prefixLength}`, 'dev', br]);
  }
  await ip(['link', 'set', br, 'up']);
  for (const h of plan.hosts) mkdirSync(plan.stateDirOf(h.name), { recursive: true, mode: 0o755 });
  mkdirSync(plan.localDir, { recursive: true, mode: 0o755 });
  for (const h of plan.hosts) {
    const ns = nsName(plan.tag, h.name);
    const veth = vethName(plan.tag, h.name);
    if (!existsSync(`/run/netns/${ns}`)) {
      await ip(['netns', 'add', ns]);
      await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await ip(['link', 'set', veth, 'master', br, 'up']);
      for (const a of h.addresses) await ip(['-n', ns, 'addr', 'add', `${a}/${plan.prefixLength}`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    if (holderPid(plan, h.name)) continue;
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, 'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', holderScript(plan, h.name)],
      { detached: true, stdio: 'ignore' },
    );
    child.unref();
    // ip netns exec and unshare exec in place: the child's pid becomes sleep's. Wait for it.
    const deadline = Date.now() + 10000;
    for (;;) {
      const comm = readComm(child.pid!);
      if (comm === 'sleep') break;
      if (comm === undefined || Date.now() > deadline)
        throw new Error(`host ${h.name}: its namespace holder did not start (mounts for ${plan.stateDirOf(h.name)})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    writeFileSync(holderPidFile(plan, h.name), `${child.pid}\n`);
  }
}

function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Pids whose network namespace is the named one (ip netns pids, without a shell). */
export async function pidsIn(ns: string): Promise<number[]> {
  if (!existsSync(`/run/netns/${ns}`)) return [];
  const { stdout } = await execa('ip', ['netns', 'pids', ns], { reject: false });
  return stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * SIGKILLs every process on a host (the "host lost" fault) but its holder: the host itself (its
 * namespaces, its disk) stays, so it can come back.
 */
export async function killHost(plan: NetPlan, host: string): Promise<number> {
  const ns = nsName(plan.tag, host);
  const holder = holderPid(plan, host);
  const killed = new Set<number>();
  for (let round = 0; round < 50; round++) {
    const pids = (await pidsIn(ns)).filter((p) => p !== holder);
    if (pids.length === 0) {
      // Gone from the namespace is not yet dead: wait until every killed process has exited (a
      // zombie has; this machine's PID 1 may take long to reap one, see startPostgresOn).
      for (let wait = 0; wait < 300 && [...killed].some(isAlive); wait++) await new Promise((r) => setTimeout(r, 100));
      const living = [...killed].filter(isAlive);
      if (living.length) throw new Error(`host ${host}: processes still running 30 s after SIGKILL: ${living.join(', ')}`);
      return killed.size;
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`host ${host}: processes survive SIGKILL in ${ns}: ${(await pidsIn(ns)).filter((p) => p !== holder).join(', ')}`);
}

/** Removes every host and the bridge of this tag, whatever state a failed run left them in. */
export async function netDown(tag: string): Promise<void> {
  for (const ns of namespacesOf(tag)) {
    for (let round = 0; round < 50; round++) {
      const pids = await pidsIn(ns);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
  for (const link of linksOf(tag)) await execa('ip', ['link', 'del', link], { reject: false });
}

function namespacesOf(tag: string): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').filter((n) => n.startsWith(`pgdr${tag}-`));
}

function linksOf(tag: string): string[] {
  return readdirSync('/sys/class/net').filter((n) => n.startsWith(`pgdr${tag}-`));
}

/**
 * What a teardown must not leave behind: namespaces, links, processes whose network namespace is
 * not the machine's, and mounts under the harness's directory that any process still sees.
 */
export async function leftovers(tag: string, stateRoot: string): Promise<string[]> {
  const out: string[] = [];
  for (const ns of namespacesOf(tag)) out.push(`network namespace ${ns}`);
  for (const link of linksOf(tag)) out.push(`link ${link}`);
  const rootNet = readlinkSync('/proc/self/ns/net');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let net: string;
    let mounts: string;
    try {
      net = readlinkSync(`/proc/${entry}/ns/net`);
      mounts = readFileSync(`/proc/${entry}/mounts`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The machine itself mounts nothing under the harness's directory: any such mount is a host's.
    const hostMount = mounts.split('\n').find((l) => (l.split(' ')[1] ?? '').startsWith(stateRoot));
    if (hostMount) out.push(`process ${entry} (${readComm(Number(entry)) ?? '?'}) sees the harness mount ${hostMount.split(' ')[1]}`);
    else if (net !== rootNet && mounts.includes(stateRoot)) out.push(`process ${entry} (${readComm(Number(entry)) ?? '?'}) in ${net}`);
  }
  return out;
}

/** Cuts a host off the bridge (link down on the machine's side), or heals it. */
export async function setLink(plan: NetPlan, host: string, up: boolean): Promise<void> {
  await ip(['link', 'set', vethName(plan.tag, host), up ? 'up' : 'down']);
}

/** Makes `address` unreachable from `host` only (a blackhole route in its namespace), or heals it. */
export async function setBlackhole(plan: NetPlan, host: string, address: string, on: boolean): Promise<void> {
  await execa('ip', ['-n', nsName(plan.tag, host), 'route', on ? 'replace' : 'del', 'blackhole', `${address}/32`], {
    reject: on, // healing a route that is not there is fine
  });
}
