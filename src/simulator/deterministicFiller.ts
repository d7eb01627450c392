/**
 * Deterministic filler for large simulated content (megabyte script outputs, multi-megabyte device
 * files). Generated from a seed when a result is downloaded, so nothing large is stored per action
 * and the same result downloads byte-identical every time.
 */

import { mulberry32 } from "./mulberry32.js";

/** FNV-1a: a stable 32-bit seed from any text. */
export function seedFrom(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Binary content shaped like a real dump or executable: runs of zeros between random blocks, so it
 * compresses somewhat, as real files do.
 */
export function fillerBytes(seed: string, size: number): Buffer {
  const next = mulberry32(seedFrom(seed));
  const out = Buffer.alloc(size);
  let offset = 0;
  while (offset < size) {
    const block = Math.min(size - offset, 512 + (next() % 3584));
    if (next() % 3 === 0) {
      offset += block; // a run of zeros: Buffer.alloc already zeroed it
      continue;
    }
    let i = 0;
    for (; i + 4 <= block; i += 4) out.writeUInt32LE(next(), offset + i);
    for (; i < block; i++) out[offset + i] = next() & 0xff;
    offset += block;
  }
  return out;
}

const WINDOWS_PROCESSES = [
  "svchost",
  "RuntimeBroker",
  "explorer",
  "msedge",
  "ms-teams",
  "OneDrive",
  "MsMpEng",
  "MsSense",
  "SenseIR",
  "SenseNdr",
  "SearchIndexer",
  "conhost",
  "dllhost",
  "sihost",
  "taskhostw",
  "WmiPrvSE",
  "spoolsv",
  "dwm",
  "ctfmon",
  "audiodg",
  "fontdrvhost",
  "SecurityHealthService",
  "OUTLOOK",
  "EXCEL",
  "chrome",
];

const UNIX_PROCESSES = [
  "/usr/sbin/sshd -D",
  "/lib/systemd/systemd-journald",
  "/lib/systemd/systemd-udevd",
  "/usr/sbin/cron -f",
  "/usr/sbin/rsyslogd -n -iNONE",
  "nginx: worker process",
  "/usr/bin/containerd",
  "/opt/microsoft/mdatp/sbin/wdavdaemon",
  "/usr/bin/python3 /usr/bin/networkd-dispatcher",
  "/usr/lib/postgresql/14/bin/postgres -D /var/lib/postgresql/14/main",
  "[kworker/u8:2-events_unbound]",
  "/usr/sbin/chronyd -F 2",
  "/usr/bin/dbus-daemon --system",
];

export type FillerStyle = "windows" | "unix";

/**
 * Process-list lines (Get-Process on Windows, ps aux elsewhere), exactly `size` bytes of ASCII:
 * what a megabyte-sized script output looks like in practice.
 */
export function processListFiller(seed: string, size: number, style: FillerStyle): string {
  if (size <= 0) return "";
  const next = mulberry32(seedFrom(seed));
  const pick = (list: readonly string[]): string => list[next() % list.length]!;
  const lines: string[] =
    style === "windows"
      ? [
          "Handles  NPM(K)    PM(K)      WS(K)     CPU(s)     Id  SI ProcessName",
          "-------  ------    -----      -----     ------     --  -- -----------",
        ]
      : ["USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND"];
  let length = lines.reduce((sum, line) => sum + line.length + 1, 0);
  while (length < size) {
    const line =
      style === "windows"
        ? [
            String(80 + (next() % 2400)).padStart(7),
            String(5 + (next() % 90)).padStart(7),
            String(900 + (next() % 250000)).padStart(8),
            String(3000 + (next() % 400000)).padStart(10),
            ((next() % 90000) / 100).toFixed(2).padStart(10),
            String(4 + (next() % 30000)).padStart(6),
            String(next() % 3).padStart(3),
            pick(WINDOWS_PROCESSES),
          ].join(" ")
        : [
            (next() % 4 === 0 ? "www-data" : "root").padEnd(8),
            String(1 + (next() % 60000)).padStart(7),
            ((next() % 300) / 10).toFixed(1).padStart(4),
            ((next() % 200) / 10).toFixed(1).padStart(4),
            String(2000 + (next() % 2000000)).padStart(7),
            String(500 + (next() % 300000)).padStart(6),
            "?       ",
            "Ss  ",
            "Jan14",
            `${next() % 60}:${String(next() % 60).padStart(2, "0")}`.padStart(6),
            pick(UNIX_PROCESSES),
          ].join(" ");
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join("\n").concat("\n").slice(0, size);
}
