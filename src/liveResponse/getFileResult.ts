import { rename, rm } from "node:fs/promises";
import { ArchiveError } from "./archiveError.js";
import {
  detectFormat,
  extractZip,
  gunzipFile,
  readHead,
  type DeliveredFormat,
  type Extracted,
} from "./archive.js";
import { createUniqueFile, deviceBaseName, safeFileName } from "./fileNames.js";
import type { GetFileResultData } from "./types.js";

export interface DownloadedBlob {
  path: string;
  bytes: number;
  sha256: string;
}

export interface CollectedFileTarget {
  /** The action's folder under the download directory; the download lies in it too. */
  dir: string;
  index: number;
  /** The GetFile `Path` parameter: names the saved file when the archive does not. */
  devicePath: string | undefined;
  maxFileBytes: number;
}

/** A device file that is itself gzip (`.gz`) arrives as gzip bytes: inflating it would change the evidence. */
const GZIP_NAME = /\.(gz|tgz|gzip)$/i;

/**
 * Turns a finished GetFile download into the collected file: the format is read from the first
 * bytes, an archive is extracted (see archive.ts) and the file named after the device's file. The
 * archive is deleted once extracted: its hash is reported beside the file's, and keeping both would
 * double the disk used by a collection of up to 3 GB. An archive that is refused (unsafe, too large,
 * damaged) is kept, unextracted, for a person to look at, and the refusal says where.
 */
export async function saveCollectedFile(
  download: DownloadedBlob,
  target: CollectedFileTarget,
): Promise<GetFileResultData> {
  const deviceName = target.devicePath === undefined ? "" : deviceBaseName(target.devicePath);
  const name = safeFileName(deviceName, `command-${target.index}.bin`);
  let format: DeliveredFormat = detectFormat(await readHead(download.path));
  if (format === "gzip" && GZIP_NAME.test(deviceName)) format = "raw";

  if (format === "raw") {
    const reserved = await createUniqueFile(target.dir, name);
    await reserved.handle.close();
    await rename(download.path, reserved.path);
    return {
      type: "GetFile",
      index: target.index,
      savedPath: reserved.path,
      bytes: download.bytes,
      sha256: download.sha256,
      format,
      archiveSha256: null,
    };
  }

  let extracted: Extracted;
  try {
    extracted =
      format === "zip"
        ? await extractZip(download.path, target.dir, {
            maxBytes: target.maxFileBytes,
            fallbackName: name,
            folderName: `command-${target.index}-files`,
          })
        : await gunzipFile(download.path, target.dir, name, target.maxFileBytes);
  } catch (error) {
    if (!(error instanceof ArchiveError)) {
      await rm(download.path, { force: true });
      throw error;
    }
    const kept = await createUniqueFile(
      target.dir,
      `command-${target.index}-unextracted.${format === "zip" ? "zip" : "gz"}`,
    );
    await kept.handle.close();
    await rename(download.path, kept.path);
    throw new ArchiveError(error.code, `${error.message}; the archive is kept unextracted at ${kept.path}`);
  }
  await rm(download.path, { force: true });
  return {
    type: "GetFile",
    index: target.index,
    savedPath: extracted.savedPath,
    bytes: extracted.bytes,
    sha256: extracted.sha256,
    format,
    archiveSha256: download.sha256,
  };
}
