// Number, size, service and time formatting shared by every view.

const PROTOCOLS: Record<number, string> = {
  1: "ICMP",
  6: "TCP",
  17: "UDP",
  47: "GRE",
  50: "ESP",
  58: "ICMPv6",
  132: "SCTP",
};

const integer = new Intl.NumberFormat("en-US");

export function count(n: number): string {
  return integer.format(n);
}

/** Binary units, three significant digits: 9.03 KiB, 312 MiB. */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v} B`;
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function protoName(proto: number): string {
  return PROTOCOLS[proto] ?? `proto ${proto}`;
}

/** "TCP/443", "UDP/53", "ICMP". */
export function service(proto: number, port: number | null | undefined): string {
  const name = protoName(proto);
  return (proto === 6 || proto === 17 || proto === 132) && port !== null && port !== undefined
    ? `${name}/${port}`
    : name;
}

/** "2026-11-02 10:00:01 UTC": operators compare times across sites in UTC. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}

/** "3 min ago", "2 h ago", for last-seen columns. */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return "never";
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return "in the future";
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
