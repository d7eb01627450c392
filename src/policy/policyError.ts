/**
 * The policy file cannot be used. `problems` lists every mistake at once, each with its place in the
 * file (`scripts[2].sha256 (line 14): …`), so one edit can fix them all.
 */
export class PolicyError extends Error {
  override readonly name = "PolicyError";
  readonly code: "POLICY_UNREADABLE" | "POLICY_INVALID";
  readonly file: string;
  readonly problems: readonly string[];

  constructor(code: PolicyError["code"], file: string, problems: readonly string[]) {
    super(
      `policy file ${file} ${code === "POLICY_UNREADABLE" ? "cannot be read" : "is invalid"}:\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
    this.code = code;
    this.file = file;
    this.problems = problems;
  }
}
