/**
 * A GetFile path as the policy judges it. The path comes from a model, so every form that names a
 * file by another spelling than its plain absolute path is refused outright, whatever the policy's
 * patterns say: a deny pattern must not be dodged by writing the same file another way, and some
 * forms reach beyond the device's own drives.
 */

export interface DevicePath {
  /** Windows paths (`C:\…`) match case-insensitively; POSIX paths (`/…`, Linux and macOS) exactly. */
  kind: "windows" | "posix";
  /** The path with `/` between segments (`C:/Windows/Temp/x.log`, `/var/log/syslog`), for matching. */
  normalized: string;
}

export type DevicePathResult = { ok: true; path: DevicePath } | { ok: false; reason: string };

const refuse = (reason: string): DevicePathResult => ({ ok: false, reason });

/** Device namespaces: `\\.\PhysicalDrive0`, `\\?\C:\…`, `\??\C:\…` (either slash). */
const DEVICE_PREFIX = /^(?:[\\/]{2}[.?][\\/]|[\\/]\?\?[\\/])/;
const UNC_PREFIX = /^[\\/]{2}/;
const WINDOWS_ABSOLUTE = /^[A-Za-z]:[\\/]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this finds
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
/** Characters Windows forbids in names; `*` and `?` would be read as wildcards. */
const WINDOWS_FORBIDDEN = /[*?"<>|]/;
/** An 8.3 short name (`PROGRA~1`, `MICROS~2.DOC`) names the same file as a long name a pattern may deny. */
const SHORT_NAME = /^[^~]{1,6}~\d{1,6}(?:\.[^.]{1,3})?$/;
/** `%SystemRoot%` and the like could expand to a path the patterns never saw. */
const ENVIRONMENT_VARIABLE = /%[^%]+%/;

export function parseDevicePath(raw: string): DevicePathResult {
  if (CONTROL_CHARACTER.test(raw)) return refuse("it contains control characters");
  if (DEVICE_PREFIX.test(raw)) {
    return refuse("it is a device path (\\\\.\\ or \\\\?\\), which bypasses the file system's own rules");
  }
  if (UNC_PREFIX.test(raw)) {
    return refuse("it is a UNC path (\\\\server\\share), which reaches another machine");
  }
  if (WINDOWS_ABSOLUTE.test(raw)) return windowsPath(raw);
  if (raw.startsWith("/") && !raw.includes("\\")) return posixPath(raw);
  return refuse("it is not an absolute path; give the full path, C:\\… on Windows or /… on Linux and macOS");
}

function windowsPath(raw: string): DevicePathResult {
  const drive = raw.slice(0, 2);
  const rest = raw.slice(3);
  if (rest.includes(":")) {
    return refuse(
      "it has a ':' after the drive letter, which names an alternate data stream (such as ::$DATA)",
    );
  }
  const segments = rest.split(/[\\/]/);
  for (const segment of segments) {
    const problem = segmentProblem(segment) ?? windowsSegmentProblem(segment);
    if (problem !== undefined) return refuse(problem);
  }
  return { ok: true, path: { kind: "windows", normalized: `${drive}/${segments.join("/")}` } };
}

function posixPath(raw: string): DevicePathResult {
  const segments = raw.slice(1).split("/");
  for (const segment of segments) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) return refuse(problem);
  }
  return { ok: true, path: { kind: "posix", normalized: `/${segments.join("/")}` } };
}

function segmentProblem(segment: string): string | undefined {
  if (segment === "") return "it has an empty segment (a doubled or trailing separator)";
  if (segment === "..") return "it has a '..' segment, which climbs out of the folder it names";
  if (segment === ".") return "it has a '.' segment; write the path without it";
  return undefined;
}

function windowsSegmentProblem(segment: string): string | undefined {
  if (/[. ]$/.test(segment)) {
    return "a segment ends with a dot or a space, which Windows drops, so it names another file than it shows";
  }
  if (WINDOWS_FORBIDDEN.test(segment))
    return 'it has a wildcard or a character Windows forbids (* ? " < > |)';
  if (SHORT_NAME.test(segment)) return "it has an 8.3 short name (such as PROGRA~1); use the long name";
  if (ENVIRONMENT_VARIABLE.test(segment)) {
    return "it has an environment variable (%NAME%); write the path it stands for";
  }
  return undefined;
}
