/**
 * A request that needed a person's approval and did not get it; nothing was sent to Defender.
 * The codes tell the agent what happened: the person said no (DECLINED), dismissed the question
 * (CANCELLED), could not be asked (UNAVAILABLE: the client has no form elicitation), the request
 * changed between the approval and the submit (PAYLOAD_CHANGED), or asking failed (FAILED).
 */
export class ApprovalError extends Error {
  override readonly name = "ApprovalError";
  readonly code:
    | "APPROVAL_DECLINED"
    | "APPROVAL_CANCELLED"
    | "APPROVAL_UNAVAILABLE"
    | "APPROVAL_PAYLOAD_CHANGED"
    | "APPROVAL_FAILED";

  constructor(code: ApprovalError["code"], message: string) {
    super(message);
    this.code = code;
  }
}
