import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { downloadResultBlob, downloadResultBlobToFile } from "../defender/blobDownload.js";
import type { DefenderClient } from "../defender/defenderClient.js";
import { DefenderApiError, DefenderResponseError } from "../defender/errors.js";
import type { CaOption } from "../defender/httpTransport.js";
import { assertActionId } from "../defender/ids.js";
import type { MachineAction, MachineActionCommand } from "../defender/schemas.js";
import type { Logger } from "../logger.js";
import { ArchiveError } from "./archiveError.js";
import { saveCollectedFile } from "./getFileResult.js";
import { noResultReason } from "./noResultReason.js";
import { ResultCache } from "./resultCache.js";
import type { ResultLinks } from "./resultLinks.js";
import { parseRunScriptResult } from "./runScriptResult.js";
import { isTransientFailure } from "./transientFailure.js";
import { waitUnlessAborted } from "./waitUnlessAborted.js";
import type { CallOptions, CommandResultData, GetFileResultData, RunScriptResultData } from "./types.js";

export interface CommandResultsDeps {
  client: DefenderClient;
  links: ResultLinks;
  downloadDir: string;
  blobCa: CaOption | undefined;
  maxScriptResultBytes: number;
  maxFileBytes: number;
  logger: Logger;
}

/** A ZIP around a file is a little larger than the file when the file does not compress. */
const ARCHIVE_OVERHEAD_BYTES = 1024 * 1024;

/**
 * Fetches every command's result once: a link from the API, the blob from storage, parsed or
 * extracted, then served from the cache. A failure that will not change (an archive refused, a result
 * over the size cap) is remembered too; one that may (network, an expired link twice) is not, so the
 * next call tries again. Nothing is thrown: every failure becomes the command's reason.
 *
 * A fetch belongs to no caller: it is shared by everyone asking for the same result and runs to the
 * end even when they all stop waiting (their request was cancelled, their time ran out), so a large
 * GetFile is downloaded once and served from the cache to whoever asks next. An action's fetches run
 * one after another, to spend the API's read budget gently.
 */
export class CommandResults {
  private readonly cache = new ResultCache();
  private readonly inflight = new Map<string, Promise<CommandResultData>>();

  constructor(private readonly deps: CommandResultsDeps) {}

  async of(action: MachineAction, options: CallOptions = {}): Promise<CommandResultData[]> {
    const actionId = assertActionId(action.id).toLowerCase();
    const commands = [...action.commands].sort((a, b) => a.index - b.index);
    const fetchable = commands.filter((c) => noResultReason(action, c) === undefined);
    this.startFetches(actionId, fetchable);
    const results: CommandResultData[] = [];
    for (const command of commands) {
      const type = command.command?.type ?? "Unknown";
      const reason = noResultReason(action, command);
      results.push(
        reason === undefined
          ? await this.awaitResult(actionId, command, options.signal)
          : { type, index: command.index, reason },
      );
    }
    return results;
  }

  /** Starts, in index order, each fetch that is neither cached nor under way. */
  private startFetches(actionId: string, commands: readonly MachineActionCommand[]): void {
    let previous: Promise<unknown> = Promise.resolve();
    for (const command of commands) {
      if (this.cache.has(ResultCache.key(actionId, command.index))) continue;
      previous = this.fetchOnce(actionId, command, previous);
    }
  }

  /** The fetch under way for this result, or a new one started once `after` has settled. */
  private fetchOnce(
    actionId: string,
    command: MachineActionCommand,
    after: Promise<unknown>,
  ): Promise<CommandResultData> {
    const key = ResultCache.key(actionId, command.index);
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const fetching = (async () => {
      await after;
      return this.fetch(actionId, command, key);
    })().finally(() => this.inflight.delete(key));
    this.inflight.set(key, fetching);
    return fetching;
  }

  private async awaitResult(
    actionId: string,
    command: MachineActionCommand,
    signal: AbortSignal | undefined,
  ): Promise<CommandResultData> {
    const cached = this.cache.get(ResultCache.key(actionId, command.index));
    if (cached !== undefined) return cached;
    // Started by `of` unless the result was cached then and evicted since: then it starts here.
    const waited = await waitUnlessAborted(this.fetchOnce(actionId, command, Promise.resolve()), signal);
    if (waited.done) return waited.value;
    return {
      type: command.command?.type ?? "Unknown",
      index: command.index,
      reason: "the result is still being fetched",
      fetching: true,
    };
  }

  private async fetch(
    actionId: string,
    command: MachineActionCommand,
    key: string,
  ): Promise<CommandResultData> {
    const type = command.command?.type ?? "Unknown";
    const { index } = command;
    try {
      const result =
        type === "RunScript"
          ? await this.fetchScript(actionId, index)
          : await this.fetchFile(actionId, command);
      this.cache.set(key, result);
      this.deps.links.done(actionId, index);
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const noResult = { type, index, reason: `the result could not be fetched: ${message}` };
      const final =
        error instanceof ArchiveError ||
        (error instanceof DefenderResponseError && error.reason === "too_large");
      if (final) this.cache.set(key, noResult);
      this.deps.logger.warn(
        { actionId, index, code: (error as { code?: unknown }).code, final },
        "fetching a command result failed",
      );
      return noResult;
    }
  }

  private async fetchScript(actionId: string, index: number): Promise<RunScriptResultData> {
    const blob = await this.withLink(actionId, index, (url) =>
      downloadResultBlob(url, {
        maxBytes: this.deps.maxScriptResultBytes,
        ca: this.deps.blobCa,
        logger: this.deps.logger,
      }),
    );
    const parsed = parseRunScriptResult(blob);
    const outputPath = join(await this.actionDir(actionId), `command-${index}-output.txt`);
    await writeFile(outputPath, parsed.output, { mode: 0o600 });
    return { type: "RunScript", index, ...parsed, outputPath };
  }

  private async fetchFile(actionId: string, command: MachineActionCommand): Promise<GetFileResultData> {
    const dir = await this.actionDir(actionId);
    const path = join(dir, `command-${command.index}-${randomBytes(4).toString("hex")}.download`);
    const download = await this.withLink(actionId, command.index, (url) =>
      downloadResultBlobToFile(url, path, {
        maxBytes: this.deps.maxFileBytes + ARCHIVE_OVERHEAD_BYTES,
        ca: this.deps.blobCa,
        logger: this.deps.logger,
      }),
    );
    return saveCollectedFile(
      { path, ...download },
      {
        dir,
        index: command.index,
        devicePath: command.command?.params.find((p) => p.key === "Path")?.value ?? undefined,
        maxFileBytes: this.deps.maxFileBytes,
      },
    );
  }

  /**
   * Runs `use` with the command's result link (asked for once, reused until it nears its end); when
   * the download fails in a way trying again may fix, tries once more: with a new link when storage
   * said the link expired, with the same one when storage or the network failed.
   */
  private async withLink<T>(actionId: string, index: number, use: (url: URL) => Promise<T>): Promise<T> {
    const links = this.deps.links;
    try {
      return await use(await links.get(actionId, index));
    } catch (error) {
      const expired = error instanceof DefenderApiError && error.code === "LinkExpired";
      if (!(expired || isTransientFailure(error))) throw error;
      if (expired) links.drop(actionId, index);
      this.deps.logger.info(
        { actionId, index, code: (error as { code?: unknown }).code, newLink: expired },
        "result download failed; trying once more",
      );
      return use(await links.get(actionId, index));
    }
  }

  /** Outputs and collected files of one action; the folders are this user's only. */
  private async actionDir(actionId: string): Promise<string> {
    await mkdir(this.deps.downloadDir, { recursive: true, mode: 0o700 });
    const dir = join(this.deps.downloadDir, actionId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}
