/**
 * A reviewer's decision the console cannot take: the request is unknown, already decided or expired,
 * the decision names another payload than the one pending, or the two-person rule forbids it.
 */
export class ReviewError extends Error {
  override readonly name = "ReviewError";
  readonly code: "NOT_FOUND" | "NOT_PENDING" | "EXPIRED" | "PAYLOAD_MISMATCH" | "SAME_PERSON";

  constructor(code: ReviewError["code"], message: string) {
    super(message);
    this.code = code;
  }
}
