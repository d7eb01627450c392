import { fillerBytes } from "./deterministicFiller.js";
import { isWindowsPlatform } from "./scriptRun.js";
import type { Device, DeviceFile } from "./scenario.js";

/** The files a scenario puts on a device, as GetFile finds and collects them. */

function windowsKey(path: string): string {
  return path.replace(/\//g, "\\").toLowerCase();
}

/** Windows paths match without regard to case or slash direction; other platforms match exactly. */
export function findDeviceFile(device: Device, path: string): DeviceFile | undefined {
  if (isWindowsPlatform(device.osPlatform)) {
    const key = windowsKey(path);
    return device.files.find((f) => windowsKey(f.path) === key);
  }
  return device.files.find((f) => f.path === path);
}

export function deviceFileSize(file: DeviceFile): number {
  if (file.contentBase64 !== undefined) return Buffer.byteLength(file.contentBase64, "base64");
  if (file.content !== undefined) return Buffer.byteLength(file.content, "utf8");
  return file.generatedBytes ?? 0;
}

export function deviceFileBytes(device: Device, file: DeviceFile): Buffer {
  if (file.contentBase64 !== undefined) return Buffer.from(file.contentBase64, "base64");
  if (file.content !== undefined) return Buffer.from(file.content, "utf8");
  return fillerBytes(`${device.id}:${file.path}`, file.generatedBytes ?? 0);
}

/** The name a collected file has inside the result archive: the last segment of either path style. */
export function fileBaseName(path: string): string {
  const segments = path.split(/[\\/]/).filter((s) => s !== "");
  return segments[segments.length - 1] ?? path;
}

/** Why GetFile cannot collect this file, as the command's errors[] text; undefined when it can. */
export function getFileProblem(file: DeviceFile, path: string): string | undefined {
  switch (file.kind) {
    case "reparsePoint":
      return `File '${path}' is a reparse point; live response cannot collect reparse points`;
    case "sparse":
      return `File '${path}' is a sparse file; live response cannot collect sparse files`;
    case "placeholder":
      return `File '${path}' is a cloud placeholder whose content is not on the device; live response cannot collect it`;
    case "empty":
      return `File '${path}' is empty; live response cannot collect empty files`;
    case "regular":
      return deviceFileSize(file) === 0
        ? `File '${path}' is empty; live response cannot collect empty files`
        : undefined;
  }
}
