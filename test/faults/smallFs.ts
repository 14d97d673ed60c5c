/**
 * A small filesystem for disk-full tests: a tmpfs of a few MiB, or (where tmpfs mounts are
 * refused) an ext4 image on a loop device. Null with the reasons when neither can be mounted,
 * so the test can skip saying why instead of pretending.
 */
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';

export interface SmallFs {
  /** The mount point: world-traversable, so the Postgres OS user reaches directories below it. */
  dir: string;
  kind: 'tmpfs' | 'ext4 loop';
  sizeMiB: number;
  unmount(): Promise<void>;
}

export async function mountSmallFs(sizeMiB: number): Promise<{ fs: SmallFs | null; reasons: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-smallfs-'));
  chmodSync(dir, 0o755);
  const reasons: string[] = [];
  const cleanup = async (image?: string) => {
    await execa('umount', [dir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (image) rmSync(image, { force: true });
  };

  const tmpfs = await execa('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir], { reject: false });
  if (tmpfs.exitCode === 0) return { fs: { dir, kind: 'tmpfs', sizeMiB, unmount: () => cleanup() }, reasons };
  reasons.push(`mount -t tmpfs refused: ${tmpfs.stderr.trim() || `exit code ${tmpfs.exitCode}`}`);

  const image = `${dir}.img`;
  const steps: [string, string[]][] = [
    ['dd', ['if=/dev/zero', `of=${image}`, 'bs=1M', `count=${sizeMiB}`, 'status=none']],
    ['mkfs.ext4', ['-q', '-F', image]],
    ['mount', ['-o', 'loop', image, dir]],
  ];
  for (const [cmd, args] of steps) {
    const r = await execa(cmd, args, { reject: false });
    if (r.exitCode !== 0) {
      reasons.push(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
      await cleanup(image);
      return { fs: null, reasons };
    }
  }
  chmodSync(dir, 0o755);
  return { fs: { dir, kind: 'ext4 loop', sizeMiB, unmount: () => cleanup(image) }, reasons };
}
