import { zipSync } from "fflate";
import { actionEntityAt, type ActionRecord } from "./actionView.js";
import { deviceFileBytes, fileBaseName } from "./deviceFiles.js";
import { engineError, type Checked } from "./engineError.js";
import { renderTranscript } from "./scriptRun.js";

/**
 * The bytes behind GetLiveResponseResultDownloadLink(index): a RunScript's JSON transcript or a
 * GetFile's ZIP. Generated on every download from the action's plan rather than stored, so a
 * megabyte result costs memory only while it is being sent.
 */

export interface ResultContent {
  body: Buffer;
  contentType: string;
}

/**
 * Which errors, in which order (the reference leaves the codes open, §11): unknown action 404
 * ResourceNotFound; an index that is not a command 400 InvalidInput; a PutFile index 404
 * ResourceNotFound (it has no result); a command that has not Completed 400 BadRequest.
 */
export function resultContent(
  record: ActionRecord | undefined,
  actionId: string,
  index: number,
  nowMs: number,
): Checked<ResultContent> {
  if (!record) {
    return { ok: false, error: engineError(404, "ResourceNotFound", `Action ${actionId} was not found`) };
  }
  const command = record.commands[index];
  if (!Number.isInteger(index) || command === undefined) {
    return {
      ok: false,
      error: engineError(
        400,
        "InvalidInput",
        `Command index ${index} is out of range: action ${record.id} has commands 0 to ${record.commands.length - 1}`,
      ),
    };
  }
  if (command.type === "PutFile") {
    return {
      ok: false,
      error: engineError(
        404,
        "ResourceNotFound",
        `Command ${index} is a PutFile, which has no result to download`,
      ),
    };
  }
  const status = actionEntityAt(record, nowMs).commands[index]!.commandStatus;
  const planned = record.plan.commands[index];
  if (status !== "Completed" || planned === undefined) {
    return {
      ok: false,
      error: engineError(
        400,
        "BadRequest",
        `Command ${index} has status ${status}; a result is available only once the command has Completed`,
      ),
    };
  }
  const result = planned.result;
  switch (result.kind) {
    case "script": {
      const transcript = renderTranscript({
        scriptName: result.scriptName,
        args: result.args,
        device: record.device,
        behaviour: result.behaviour,
        seed: `${record.id}:${index}`,
      });
      const json = JSON.stringify({
        script_name: result.scriptName,
        exit_code: transcript.exitCode,
        script_output: transcript.output,
        script_errors: transcript.errors,
      });
      return { ok: true, value: { body: Buffer.from(json, "utf8"), contentType: "application/json" } };
    }
    case "file": {
      const bytes = deviceFileBytes(record.device, result.file);
      const zip = zipSync({ [fileBaseName(result.file.path)]: [bytes, { mtime: planned.endMs }] });
      return { ok: true, value: { body: Buffer.from(zip), contentType: "application/octet-stream" } };
    }
    case "none":
      return {
        ok: false,
        error: engineError(404, "ResourceNotFound", `Command ${index} produced no result to download`),
      };
  }
}
