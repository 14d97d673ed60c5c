/** PostgreSQL LSN arithmetic ("16/B374D848"), as bigint. Workflow-safe. */

const LSN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

export function isLsn(text: string): boolean {
  return LSN.test(text);
}

export function parseLsn(text: string): bigint {
  if (!LSN.test(text)) throw new RangeError(`invalid lsn "${text}": expected the form X/Y in hex, e.g. 0/3000060`);
  const [hi, lo] = text.split('/') as [string, string];
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Bytes from b to a (a - b); negative when a is behind b. */
export function lsnDiff(a: string, b: string): number {
  return Number(parseLsn(a) - parseLsn(b));
}
