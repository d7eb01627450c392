import { randomUUID } from "node:crypto";
import { z } from "zod";
import { scaleMs } from "../config/time.js";
import { planAction } from "./actionPlan.js";
import { actionEntityAt, isActiveAt, statusAt, type ActionRecord } from "./actionView.js";
import {
  paramValue,
  parseCancelBody,
  parseLiveResponseBody,
  type LiveResponseCommand,
} from "./commandValidation.js";
import { engineError, type EngineError } from "./engineError.js";
import {
  libraryRecordFromScenario,
  libraryRecordFromUpload,
  toLibraryFileEntity,
  type LibraryFileEntity,
  type LibraryRecord,
  type LibraryUpload,
} from "./libraryFileEntity.js";
import { isFinal, type MachineActionEntity } from "./machineActionEntity.js";
import { deviceOnlineAt, toMachineEntity, type MachineEntity } from "./machineEntity.js";
import { resultContent } from "./resultContent.js";
import { LibraryFileSchema, type Device, type Scenario } from "./scenario.js";
import type { SimClock } from "./simClock.js";

export type { EngineError } from "./engineError.js";
export type { LibraryFileEntity, LibraryUpload } from "./libraryFileEntity.js";
export type { MachineActionEntity } from "./machineActionEntity.js";
export type { MachineEntity } from "./machineEntity.js";

/**
 * The simulated Defender tenant behind the HTTP layer: devices, the live response library and every
 * MachineAction. It has no timers: each call reads the clock and derives every action's state from
 * the plan made when the action was created, so it is exact under a fake clock and costs nothing
 * while idle.
 */

/** The two published versions of the offline queue limit (reference §8). */
export const OFFLINE_QUEUE_SECONDS = { classic: 3 * 24 * 3600, extended: 2 * 3600 } as const;

export const EngineSettingsSchema = z.object({
  /** Every duration is divided by it. */
  timeScale: z.number().positive(),
  runScriptTimeoutSeconds: z.number().positive(),
  offlineQueueSeconds: z.number().positive(),
  /** Reference §9.16: a quick identical request on a device returns the action already running there. */
  mergeIdenticalRequests: z.boolean(),
  mergeWindowSeconds: z.number().nonnegative(),
  /** "reject": 404 ResourceNotFound at submit; "fail": the command fails when it runs (reference §9.9). */
  unknownLibraryFile: z.enum(["reject", "fail"]),
});
export type EngineSettings = z.infer<typeof EngineSettingsSchema>;

export const DEFAULT_ENGINE_SETTINGS: EngineSettings = {
  timeScale: 1,
  runScriptTimeoutSeconds: 600,
  offlineQueueSeconds: OFFLINE_QUEUE_SECONDS.classic,
  mergeIdenticalRequests: false,
  mergeWindowSeconds: 30,
  unknownLibraryFile: "reject",
};

export type SubmitOutcome =
  | { kind: "created"; action: MachineActionEntity }
  | { kind: "merged"; action: MachineActionEntity }
  | { kind: "error"; error: EngineError };

export type EngineOutcome<T> = ({ kind: "ok" } & T) | { kind: "error"; error: EngineError };

interface DeviceState {
  device: Device;
  onlineAtMs: number;
}

const fail = (error: EngineError): { kind: "error"; error: EngineError } => ({ kind: "error", error });

function sameCommands(a: readonly LiveResponseCommand[], b: readonly LiveResponseCommand[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class ActionEngine {
  private readonly settings: EngineSettings;
  private originMs = 0;
  private devices = new Map<string, DeviceState>();
  private library = new Map<string, LibraryRecord>();
  private actions = new Map<string, ActionRecord>();
  private mostActive = 0;

  constructor(
    private readonly scenario: Scenario,
    settings: EngineSettings,
    private readonly clock: SimClock,
  ) {
    this.settings = EngineSettingsSchema.parse(settings);
    this.reset();
  }

  /** Back to the scenario's start: no actions, the scenario's library, device schedules from now. */
  reset(): void {
    this.originMs = this.clock.now();
    this.devices = new Map(
      this.scenario.devices.map((device) => [
        device.id,
        { device, onlineAtMs: deviceOnlineAt(device, this.originMs, this.settings.timeScale) },
      ]),
    );
    this.library = new Map(
      this.scenario.library.map((file) => [file.fileName, libraryRecordFromScenario(file, this.originMs)]),
    );
    this.actions = new Map();
    this.mostActive = 0;
  }

  /** `body` is the request body as received; requestor is the calling app's display name. */
  submitLiveResponse(machineId: string, body: unknown, requestor: string): SubmitOutcome {
    const now = this.clock.now();
    const request = parseLiveResponseBody(body);
    if (!request.ok) return fail(request.error);
    const state = this.devices.get(machineId.toLowerCase());
    if (!state) return fail(engineError(404, "ResourceNotFound", `Machine ${machineId} was not found`));
    if (!this.scenario.tenant.liveResponseEnabled) {
      return fail(
        engineError(
          403,
          "DisabledFeature",
          "Live response is not enabled for this tenant (Settings > Endpoints > Advanced features > Live response)",
        ),
      );
    }
    const { commands, comment } = request.value;
    if (this.settings.unknownLibraryFile === "reject") {
      const missing = this.missingLibraryFile(commands);
      if (missing !== undefined) {
        return fail(
          engineError(404, "ResourceNotFound", `File ${missing} was not found in the live response library`),
        );
      }
    }
    const active = [...this.actions.values()].find(
      (a) => a.device.id === state.device.id && isActiveAt(a, now),
    );
    if (active) {
      const mergeWindowMs = scaleMs(this.settings.mergeWindowSeconds * 1000, this.settings.timeScale);
      if (
        this.settings.mergeIdenticalRequests &&
        now - active.createdMs <= mergeWindowMs &&
        sameCommands(active.commands, commands)
      ) {
        return { kind: "merged", action: actionEntityAt(active, now) };
      }
      return fail(engineError(400, "ActiveRequestAlreadyExists", "Action is already in progress"));
    }
    const record: ActionRecord = {
      id: randomUUID(),
      device: state.device,
      requestor,
      comment,
      commands,
      createdMs: now,
      plan: planAction({
        createdMs: now,
        device: state.device,
        onlineAtMs: state.onlineAtMs,
        commands,
        library: (name) => this.library.get(name),
        unsignedScriptExecution: this.scenario.tenant.unsignedScriptExecution,
        settings: this.settings,
      }),
      cancellation: undefined,
    };
    this.actions.set(record.id, record);
    // Sessions only ever grow at a submit, so the peak is exact when measured here.
    this.mostActive = Math.max(this.mostActive, this.activeSessionCount());
    return { kind: "created", action: actionEntityAt(record, now) };
  }

  private missingLibraryFile(commands: readonly LiveResponseCommand[]): string | undefined {
    for (const command of commands) {
      const name =
        command.type === "RunScript"
          ? paramValue(command, "ScriptName")
          : command.type === "PutFile"
            ? paramValue(command, "FileName")
            : undefined;
      if (name !== undefined && !this.library.has(name)) return name;
    }
    return undefined;
  }

  getAction(actionId: string): MachineActionEntity | undefined {
    const record = this.actions.get(actionId.toLowerCase());
    return record && actionEntityAt(record, this.clock.now());
  }

  /** Only API-created actions exist here (portal sessions are invisible, §9.12); newest first. */
  listActions(): MachineActionEntity[] {
    const now = this.clock.now();
    return [...this.actions.values()]
      .reverse()
      .sort((a, b) => b.createdMs - a.createdMs)
      .map((record) => actionEntityAt(record, now));
  }

  cancelAction(
    actionId: string,
    body: unknown,
    requestor: string,
  ): EngineOutcome<{ action: MachineActionEntity }> {
    const now = this.clock.now();
    const comment = parseCancelBody(body);
    if (!comment.ok) return fail(comment.error);
    const record = this.actions.get(actionId.toLowerCase());
    if (!record) return fail(engineError(404, "ResourceNotFound", `Action ${actionId} was not found`));
    const status = statusAt(record, now);
    if (isFinal(status)) {
      return fail(
        engineError(
          400,
          "BadRequest",
          `Action ${record.id} is already in a final state (${status}) and cannot be cancelled`,
        ),
      );
    }
    record.cancellation = { atMs: now, requestor, comment: comment.value };
    return { kind: "ok", action: actionEntityAt(record, now) };
  }

  resultContent(actionId: string, index: number): EngineOutcome<{ body: Buffer; contentType: string }> {
    const result = resultContent(this.actions.get(actionId.toLowerCase()), actionId, index, this.clock.now());
    return result.ok ? { kind: "ok", ...result.value } : fail(result.error);
  }

  /** Pending and InProgress live response actions, queued ones on offline devices included. */
  activeSessionCount(): number {
    const now = this.clock.now();
    let count = 0;
    for (const record of this.actions.values()) if (isActiveAt(record, now)) count++;
    return count;
  }

  /** The most sessions active at once since the start or the last reset. */
  maxActiveSessions(): number {
    return this.mostActive;
  }

  listMachines(): MachineEntity[] {
    const now = this.clock.now();
    return [...this.devices.values()].map((s) => toMachineEntity(s.device, now, this.originMs, s.onlineAtMs));
  }

  getMachine(machineId: string): MachineEntity | undefined {
    const state = this.devices.get(machineId.toLowerCase());
    return state && toMachineEntity(state.device, this.clock.now(), this.originMs, state.onlineAtMs);
  }

  listLibraryFiles(): LibraryFileEntity[] {
    return [...this.library.values()].map(toLibraryFileEntity);
  }

  /** POST /api/libraryfiles. An existing name is replaced only with overrideIfExists. */
  uploadLibraryFile(
    upload: LibraryUpload,
    overrideIfExists: boolean,
    requestor: string,
  ): EngineOutcome<{ file: LibraryFileEntity }> {
    const name = LibraryFileSchema.shape.fileName.safeParse(upload.fileName);
    if (!name.success) {
      return fail(
        engineError(
          400,
          "InvalidInput",
          `File name '${upload.fileName}' is not allowed: use letters, digits, '-', '_' and '.'`,
        ),
      );
    }
    const existing = this.library.get(upload.fileName);
    if (existing && !overrideIfExists) {
      return fail(
        engineError(
          400,
          "BadRequest",
          `A file named ${upload.fileName} already exists in the library; set OverrideIfExists to replace it`,
        ),
      );
    }
    const record = libraryRecordFromUpload(upload, requestor, this.clock.now());
    if (existing) {
      record.creationTime = existing.creationTime;
      record.createdBy = existing.createdBy;
    }
    this.library.set(record.fileName, record);
    return { kind: "ok", file: toLibraryFileEntity(record) };
  }

  /** DELETE /api/libraryfiles/{fileName}. */
  deleteLibraryFile(fileName: string): EngineOutcome<object> {
    if (!this.library.delete(fileName)) {
      return fail(
        engineError(404, "ResourceNotFound", `File ${fileName} was not found in the live response library`),
      );
    }
    return { kind: "ok" };
  }
}
