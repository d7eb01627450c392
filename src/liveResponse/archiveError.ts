/** Why a collected archive was not extracted. Deterministic: fetching it again would end the same way. */
export type ArchiveProblem =
  "UNSAFE_ARCHIVE" | "ARCHIVE_TOO_LARGE" | "UNSUPPORTED_ARCHIVE" | "CORRUPT_ARCHIVE";

export class ArchiveError extends Error {
  override readonly name = "ArchiveError";
  readonly code: ArchiveProblem;

  constructor(code: ArchiveProblem, message: string) {
    super(message);
    this.code = code;
  }
}
