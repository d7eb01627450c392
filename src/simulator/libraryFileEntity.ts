import { createHash } from "node:crypto";
import { z } from "zod";
import { actionTimestamp } from "./machineActionEntity.js";
import type { LibraryFile, ScriptBehaviour } from "./scenario.js";

/** A library file as GET /api/libraryfiles returns it (reference §3.6), fields in wire order. */
export const LibraryFileEntitySchema = z.object({
  fileName: z.string(),
  sha256: z.string(),
  description: z.string().nullable(),
  creationTime: z.string(),
  lastUpdatedTime: z.string(),
  createdBy: z.string(),
  hasParameters: z.boolean(),
  /** Left out when hasParameters is false, as in the reference sample. */
  parametersDescription: z.string().optional(),
});
export type LibraryFileEntity = z.infer<typeof LibraryFileEntitySchema>;

/** What the simulator keeps per library file: the wire fields plus how it behaves when run. */
export interface LibraryRecord {
  fileName: string;
  description: string | null;
  createdBy: string;
  /** Wire timestamps; a scenario's own creationTime is echoed as written. */
  creationTime: string;
  lastUpdatedTime: string;
  hasParameters: boolean;
  parametersDescription: string | undefined;
  content: Buffer;
  signed: boolean;
  behaviour: ScriptBehaviour | undefined;
  behaviourByPlatform: Record<string, ScriptBehaviour>;
}

/** Scenario files without a creation time were "uploaded" a month before the simulator started. */
const DEFAULT_AGE_MS = 30 * 24 * 3600 * 1000;

export function libraryRecordFromScenario(file: LibraryFile, originMs: number): LibraryRecord {
  const creationTime = file.creationTime ?? actionTimestamp(originMs - DEFAULT_AGE_MS);
  return {
    fileName: file.fileName,
    description: file.description,
    createdBy: file.createdBy,
    creationTime,
    lastUpdatedTime: creationTime,
    hasParameters: file.hasParameters,
    parametersDescription: file.parametersDescription,
    content: Buffer.from(file.content, "utf8"),
    signed: file.signed,
    behaviour: file.behaviour,
    behaviourByPlatform: file.behaviourByPlatform,
  };
}

export interface LibraryUpload {
  fileName: string;
  content: Buffer;
  description?: string | null;
  hasParameters?: boolean;
  parametersDescription?: string;
}

/** An Authenticode-signed PowerShell script carries this block; an uploaded script without it is unsigned. */
const SIGNATURE_BLOCK = "# SIG # Begin signature block";

export function libraryRecordFromUpload(
  upload: LibraryUpload,
  createdBy: string,
  nowMs: number,
): LibraryRecord {
  return {
    fileName: upload.fileName,
    description: upload.description ?? null,
    createdBy,
    creationTime: actionTimestamp(nowMs),
    lastUpdatedTime: actionTimestamp(nowMs),
    hasParameters: upload.hasParameters ?? false,
    parametersDescription: upload.parametersDescription,
    content: upload.content,
    signed: upload.content.toString("latin1").includes(SIGNATURE_BLOCK),
    behaviour: undefined,
    behaviourByPlatform: {},
  };
}

export function toLibraryFileEntity(record: LibraryRecord): LibraryFileEntity {
  const entity: LibraryFileEntity = {
    fileName: record.fileName,
    sha256: createHash("sha256").update(record.content).digest("hex"),
    description: record.description,
    creationTime: record.creationTime,
    lastUpdatedTime: record.lastUpdatedTime,
    createdBy: record.createdBy,
    hasParameters: record.hasParameters,
  };
  if (record.hasParameters) entity.parametersDescription = record.parametersDescription ?? "";
  return entity;
}
