import { mkdir, open, type FileHandle } from "node:fs/promises";
import { extname, join } from "node:path";
import { cleanText } from "./cleanText.js";

/**
 * Names of files saved from a device. The names come from the device (a GetFile path, an entry of
 * the archive the API delivered), so they are reduced to one safe path segment, and a save never
 * replaces a file already there: evidence collected earlier stays as it was.
 */

const MAX_NAME_CHARS = 200;
/** Separators of every platform, characters Windows refuses in names, and control characters. */
// eslint-disable-next-line no-control-regex -- control characters are what is removed
const UNSAFE_CHARACTERS = /[<>:"/\\|?*\u0000-\u001f\u007f-\u009f]/g;
const WINDOWS_DEVICE_NAME = /^(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$)(\..*)?$/i;

/** The last segment of a device path, Windows or POSIX. */
export function deviceBaseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? "";
}

/** One safe path segment made from `name`, or `fallback` when nothing usable is left. */
export function safeFileName(name: string, fallback: string): string {
  // Cleaned first, so the name on disk is the one the model is shown (no bidi or invisible characters).
  let safe = cleanText(name)
    .replace(UNSAFE_CHARACTERS, "_")
    .replace(/[. ]+$/, "");
  if (safe.length > MAX_NAME_CHARS) {
    const ext = extname(safe).slice(0, 20);
    safe = `${safe.slice(0, MAX_NAME_CHARS - ext.length)}${ext}`;
  }
  if (safe === "" || /^\.+$/.test(safe)) return fallback;
  return WINDOWS_DEVICE_NAME.test(safe) ? `_${safe}` : safe;
}

/** `name`, then `stem-1.ext`, `stem-2.ext`, … */
function candidate(name: string, n: number): string {
  if (n === 0) return name;
  const ext = extname(name);
  return `${name.slice(0, name.length - ext.length)}-${n}${ext}`;
}

const MAX_ATTEMPTS = 1000;

/** Creates a new file in `dir` named after `name` (a suffix when taken), readable by this user only. */
export async function createUniqueFile(
  dir: string,
  name: string,
): Promise<{ path: string; handle: FileHandle }> {
  return firstFree(name, async (free) => {
    const path = join(dir, free);
    return { path, handle: await open(path, "wx", 0o600) };
  });
}

/** Creates a new folder in `dir` named after `name` (a suffix when taken), for this user only. */
export async function createUniqueDir(dir: string, name: string): Promise<string> {
  return firstFree(name, async (free) => {
    const path = join(dir, free);
    await mkdir(path, { mode: 0o700 });
    return path;
  });
}

async function firstFree<T>(name: string, create: (candidate: string) => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await create(candidate(name, n));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || n >= MAX_ATTEMPTS) throw error;
    }
  }
}
